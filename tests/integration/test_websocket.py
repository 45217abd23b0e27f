"""JSON-RPC over WebSocket on the RPC port: calls, subscribe rules."""

import unittest

import harness
from harness import Node, NodeTestCase
from wsclient import WsClient, WsError


class WebSocketTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.home, _ = harness.init_home(cls)
        cls.node = Node(cls, cls.home, roles="all")

    def ws(self):
        c = WsClient("127.0.0.1", self.node.rpc_port)
        self.addCleanup(c.close)
        return c

    def test_calls_over_websocket(self):
        c = self.ws()
        c.send_json({"jsonrpc": "2.0", "id": 5, "method": "health"})
        self.assertEqual(c.recv_json(), {"jsonrpc": "2.0", "id": 5, "result": {}})
        c.send_json({"jsonrpc": "2.0", "id": "s", "method": "status"})
        r = c.recv_json()
        self.assertEqual(r["id"], "s")
        self.assertTrue(r["result"]["node_info"]["id"].startswith("stsds1"))
        c.send_json([{"jsonrpc": "2.0", "id": 1, "method": "health"},
                     {"jsonrpc": "2.0", "id": 2, "method": "nope"}])
        batch = c.recv_json()
        self.assertEqual([x["id"] for x in batch], [1, 2])
        self.assertEqual(batch[1]["error"]["code"], -32601)
        c.send_text("{not json")
        self.assertEqual(c.recv_json()["error"]["code"], -32700)

    def test_subscribe_rules(self):
        c = self.ws()
        c.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                     "params": {"query": "tm.event='NewBlock'"}})
        self.assertEqual(c.recv_json(), {"jsonrpc": "2.0", "id": 1, "result": {}})
        c.send_json({"jsonrpc": "2.0", "id": 2, "method": "subscribe",
                     "params": {"query": "tm.event='NewBlock'"}})
        self.assertIn("already subscribed", c.recv_json()["error"]["message"])
        for bad in ("", "tm.event", "tm.event='x' OR a='b'", "a='unterminated",
                    "x" * 300):
            c.send_json({"jsonrpc": "2.0", "id": 3, "method": "subscribe",
                         "params": {"query": bad}})
            self.assertEqual(c.recv_json()["error"]["code"], -32602, bad)
        c.send_json({"jsonrpc": "2.0", "id": 4, "method": "subscribe", "params": {}})
        self.assertEqual(c.recv_json()["error"]["code"], -32602)
        c.send_json({"jsonrpc": "2.0", "id": 5, "method": "unsubscribe",
                     "params": {"query": "tm.event='Tx'"}})
        self.assertIn("not subscribed", c.recv_json()["error"]["message"])
        c.send_json({"jsonrpc": "2.0", "id": 6, "method": "unsubscribe",
                     "params": {"query": "tm.event='NewBlock'"}})
        self.assertEqual(c.recv_json()["result"], {})
        c.send_json({"jsonrpc": "2.0", "id": 7, "method": "unsubscribe_all"})
        self.assertEqual(c.recv_json()["result"], {})

    def test_subscribe_over_http_is_refused(self):
        r = self.node.rpc("subscribe", {"query": "tm.event='NewBlock'"})
        self.assertRpcError(r, -32600, 1)
        self.assertIn("WebSocket", r["error"]["message"])

    def test_plain_get_is_refused(self):
        status, _, body = harness.http_request(self.node.rpc_url, path="/websocket")
        self.assertEqual(status, 400)

    def test_oversized_message_closes(self):
        c = self.ws()
        # The server drops the connection once the frame passes 1 MiB,
        # possibly while it is still being sent.
        with self.assertRaises((WsError, OSError)):
            c.send_text("[" + " " * (2 << 20) + "]")
            while True:
                c.recv_frame()
        # The server is fine.
        self.assertEqual(self.node.rpc("health")["result"], {})


if __name__ == "__main__":
    unittest.main()
