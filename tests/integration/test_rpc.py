"""JSON-RPC 2.0 envelope handling on the RPC port: error codes, ids,
batches, notifications, body limits and HTTP methods."""

import json
import unittest

import harness
from harness import Node, NodeTestCase, json_body

MAX_BODY = 1 << 20  # default [rpc] max_body_bytes


class RpcTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.home, _ = harness.init_home(cls)
        cls.node = Node(cls, cls.home)

    def setUp(self):
        # A node killed by an earlier test is reported there; start a fresh
        # one so that the other tests still say something.
        if not type(self).node.alive():
            type(self).node = Node(type(self), self.home)
        self.addCleanup(self.check_alive)

    def check_alive(self):
        self.assertHealthy(self.node)

    def post(self, body):
        if isinstance(body, str):
            body = body.encode()
        status, headers, data = self.node.rpc_raw(body)
        return status, headers, data

    def post_json(self, body):
        status, _, data = self.post(body)
        return json_body(status, data)

    # -- single requests ---------------------------------------------------

    def test_parse_error(self):
        for body in ['{"jsonrpc":"2.0","method":"health","id":1',
                     'not json', '{"jsonrpc":"2.0",}', b'\xff\xfe']:
            with self.subTest(body=body):
                self.assertRpcError(self.post_json(body), -32700, None)

    def test_parse_error_on_empty_body(self):
        self.assertRpcError(self.post_json(b""), -32700, None)

    def test_invalid_request_without_usable_id(self):
        for body in ['1', '"x"', 'null', 'true',
                     '{"jsonrpc":"2.0","method":"health","id":{}}',
                     '{"jsonrpc":"2.0","method":"health","id":[1]}',
                     '{"jsonrpc":"2.0","method":"health","id":true}']:
            with self.subTest(body=body):
                self.assertRpcError(self.post_json(body), -32600, None)

    def test_invalid_request_echoes_id(self):
        cases = [('{"jsonrpc":"1.0","method":"x","id":1}', 1),
                 ('{"method":"health","id":2}', 2),
                 ('{"jsonrpc":"2.0","id":3}', 3),
                 ('{"jsonrpc":"2.0","method":5,"id":"abc"}', "abc"),
                 ('{"jsonrpc":"2.0","method":null,"id":4}', 4)]
        for body, id in cases:
            with self.subTest(body=body):
                self.assertRpcError(self.post_json(body), -32600, id)

    def test_method_not_found(self):
        resp = self.node.rpc("no_such_method", id=99)
        self.assertRpcError(resp, -32601, 99)
        self.assertIn("no_such_method", resp["error"]["message"])

    def test_invalid_params(self):
        body = '{"jsonrpc":"2.0","method":"status","params":5,"id":11}'
        self.assertRpcError(self.post_json(body), -32602, 11)

    def test_ids_are_echoed_exactly(self):
        for id in ["abc", "", "ü-\u4e2d", 0, -1, 12345678901, "1"]:
            with self.subTest(id=id):
                resp = self.node.rpc("health", id=id)
                self.assertEqual(self.assertRpcResult(resp, id), {})

    def test_success_is_http_200_json(self):
        status, headers, data = self.post('{"jsonrpc":"2.0","method":"health","id":1}')
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"),
                        headers.get("Content-Type"))
        self.assertEqual(json.loads(data), {"jsonrpc": "2.0", "id": 1, "result": {}})

    # -- batches -------------------------------------------------------------

    def test_batch_answers_each_call(self):
        batch = [{"jsonrpc": "2.0", "method": "health", "id": 1},
                 {"jsonrpc": "2.0", "method": "status", "id": "two"},
                 {"jsonrpc": "2.0", "method": "nope", "id": 3}]
        resp = self.post_json(json.dumps(batch))
        self.assertIsInstance(resp, list, resp)
        self.assertEqual(len(resp), 3, resp)
        by_id = {json.dumps(r.get("id")): r for r in resp}
        self.assertEqual(sorted(by_id), sorted(['1', '"two"', '3']), resp)
        self.assertEqual(self.assertRpcResult(by_id['1'], 1), {})
        status = self.assertRpcResult(by_id['"two"'], "two")
        self.assertTrue(status["node_info"]["id"].startswith("stsds1"), status)
        self.assertRpcError(by_id['3'], -32601, 3)

    def test_batch_with_invalid_members(self):
        batch = [1, {"jsonrpc": "2.0", "method": "health", "id": 8},
                 {"jsonrpc": "2.0", "id": 9}]
        resp = self.post_json(json.dumps(batch))
        self.assertIsInstance(resp, list, resp)
        self.assertEqual(len(resp), 3, resp)
        nulls = [r for r in resp if r.get("id") is None]
        self.assertEqual(len(nulls), 1, resp)
        self.assertRpcError(nulls[0], -32600, None)
        by_id = {r["id"]: r for r in resp if r.get("id") is not None}
        self.assertEqual(self.assertRpcResult(by_id[8], 8), {})
        self.assertRpcError(by_id[9], -32600, 9)

    def test_empty_batch(self):
        resp = self.post_json("[]")
        self.assertIsInstance(resp, dict, resp)
        self.assertRpcError(resp, -32600, None)

    def test_batch_skips_notifications(self):
        batch = [{"jsonrpc": "2.0", "method": "health"},
                 {"jsonrpc": "2.0", "method": "health", "id": 21},
                 {"jsonrpc": "2.0", "method": "nope"}]
        resp = self.post_json(json.dumps(batch))
        self.assertIsInstance(resp, list, resp)
        self.assertEqual(len(resp), 1, resp)
        self.assertEqual(self.assertRpcResult(resp[0], 21), {})

    # -- notifications ---------------------------------------------------------

    def test_notification_gets_204(self):
        for body in ['{"jsonrpc":"2.0","method":"health"}',
                     '{"jsonrpc":"2.0","method":"nope"}',
                     '{"jsonrpc":"2.0","method":"status","params":5}']:
            with self.subTest(body=body):
                status, _, data = self.post(body)
                self.assertEqual(status, 204, data)
                self.assertEqual(data, b"")

    def test_batch_of_notifications_gets_204(self):
        batch = [{"jsonrpc": "2.0", "method": "health"},
                 {"jsonrpc": "2.0", "method": "status"}]
        status, _, data = self.post(json.dumps(batch))
        self.assertEqual(status, 204, data)
        self.assertEqual(data, b"")

    # -- body size and HTTP method -----------------------------------------------

    @staticmethod
    def padded(size):
        req = b'{"jsonrpc":"2.0","method":"health","id":7}'
        return req + b" " * (size - len(req))

    def test_body_at_limit_is_served(self):
        body = self.padded(MAX_BODY)
        self.assertEqual(len(body), MAX_BODY)
        status, _, data = self.post(body)
        self.assertEqual(status, 200, data[:200])
        self.assertEqual(self.assertRpcResult(json.loads(data), 7), {})

    def assertTooLarge(self, status, data):
        self.assertEqual(status, 413, data[:200])
        resp = json_body(status, data)
        self.assertRpcError(resp, -32600, None)
        self.assertIn("too large", resp["error"]["message"].lower())

    def test_body_over_limit_gets_413(self):
        status, _, data = self.post(self.padded(MAX_BODY + 1))
        self.assertTooLarge(status, data)

    def test_large_body_gets_413(self):
        status, _, data = self.post(self.padded(4 * MAX_BODY))
        self.assertTooLarge(status, data)

    def test_huge_body_refused_before_buffering(self):
        # Past four times the cap the HTTP layer refuses on its own, from
        # the Content-Length alone, with a plain-text 413.
        status, _, data = self.post(self.padded(16 * MAX_BODY))
        self.assertEqual(status, 413, data[:200])
        self.assertIn(b"too large", data.lower())
        self.assertEqual(self.node.rpc("health")["result"], {})

    def test_chunked_body_over_limit_gets_413(self):
        status, _, data = self.node.rpc_raw(self.padded(2 * MAX_BODY),
                                            chunk_size=64 * 1024)
        self.assertTooLarge(status, data)

    def test_get_is_405(self):
        status, headers, data = self.node.rpc_raw(None, method="GET")
        self.assertEqual(status, 405, data)
        self.assertIn("POST", headers.get("Allow", ""))


if __name__ == "__main__":
    unittest.main()
