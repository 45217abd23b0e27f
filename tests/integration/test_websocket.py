"""JSON-RPC over WebSocket on the RPC port: calls, subscribe rules."""

import base64
import hashlib
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


class EventsTest(NodeTestCase):
    """Events of a running chain: a dev network commits blocks."""

    @classmethod
    def setUpClass(cls):
        cls.home = harness.new_home(cls)
        cls.node = Node(cls, cls.home, mode="dev")

    def ws(self):
        c = WsClient("127.0.0.1", self.node.rpc_port)
        self.addCleanup(c.close)
        return c

    def test_new_block_events(self):
        c = self.ws()
        c.send_json({"jsonrpc": "2.0", "id": "nb", "method": "subscribe",
                     "params": {"query": "tm.event='NewBlock'"}})
        self.assertEqual(c.recv_json()["result"], {})
        heights = []
        while len(heights) < 3:
            ev = c.recv_json()
            self.assertEqual(ev["id"], "nb")
            self.assertEqual(ev["result"]["query"], "tm.event='NewBlock'")
            v = ev["result"]["data"]["value"]
            self.assertEqual(len(v["hash"]), 64)
            heights.append(v["height"])
        self.assertEqual(heights, list(range(heights[0], heights[0] + 3)))
        block = self.node.result("block", {"height": heights[-1]})
        self.assertEqual(block["block_id"]["hash"], v["hash"])

    def test_tx_event_by_hash(self):
        c = self.ws()
        rc, out, err = harness.run(["keys", "show", "dev", "--home", self.home])
        dev = out.split("address:")[1].split()[0]
        rc, out, err = harness.run(
            ["tx", "send", "--home", self.home, "--from", "dev", "--to", dev,
             "--amount", "7", "--rpc", self.node.rpc_url, "--generate-only"])
        self.assertEqual(rc, 0, err)
        tx = out.strip()
        # The tx hash is BLAKE2b-256 over the tx domain tag (0x02) and the
        # tx bytes: a client knows it before broadcasting.
        h = hashlib.blake2b(b"\x02" + base64.b64decode(tx), digest_size=32).hexdigest()
        c.send_json({"jsonrpc": "2.0", "id": 9, "method": "subscribe",
                     "params": {"query": "tm.event='Tx' AND tx.hash='%s'" % h}})
        self.assertEqual(c.recv_json()["result"], {})
        r = self.node.result("broadcast_tx_async", {"tx": tx})
        self.assertEqual(r["hash"], h)
        ev = c.recv_json()
        self.assertEqual(ev["id"], 9)
        v = ev["result"]["data"]["value"]
        self.assertEqual(v["hash"], h)
        self.assertEqual(v["tx_result"]["code"], 0)
        self.assertEqual(self.node.result("tx", {"hash": h})["height"], v["height"])


if __name__ == "__main__":
    unittest.main()
