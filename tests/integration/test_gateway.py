"""The HTTP gateway: /healthz, /metrics in the Prometheus text format, and
errors for unknown paths."""

import time
import unittest

import harness
from harness import Node, NodeTestCase, json_body, samples


class GatewayTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.home, _ = harness.init_home(cls)
        cls.t_spawn = time.time()
        cls.node = Node(cls, cls.home)
        cls.t_ready = time.time()

    def eventually_metrics(self, pred, timeout=1.0):
        """Scrapes until pred(families) holds (a request may be counted a
        moment after its answer was sent); returns the last scrape."""
        deadline = time.monotonic() + timeout
        while True:
            fams = self.node.metrics()
            if pred(fams) or time.monotonic() > deadline:
                return fams
            time.sleep(harness.POLL_INTERVAL)

    def test_healthz(self):
        status, headers, body = self.node.get("/healthz")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"),
                        headers.get("Content-Type"))
        self.assertEqual(json_body(status, body), {"status": "ok"})

    def test_unknown_path_is_json_404(self):
        for path in ["/no/such/thing", "/v1/nothing-here", "/metrics/x"]:
            with self.subTest(path=path):
                status, headers, body = self.node.get(path)
                self.assertEqual(status, 404, body)
                doc = json_body(status, body)
                self.assertEqual(set(doc), {"error"}, doc)
                self.assertEqual(doc["error"].get("code"), 404, doc)
                self.assertIsInstance(doc["error"].get("message"), str, doc)
                self.assertTrue(doc["error"]["message"], doc)

    def test_metrics_content_type_and_syntax(self):
        status, headers, body = self.node.get("/metrics")
        self.assertEqual(status, 200, body[:300])
        self.assertTrue(headers.get("Content-Type", "").startswith(
            "text/plain; version=0.0.4"), headers.get("Content-Type"))
        fams = harness.parse_prometheus(body.decode("utf-8"))
        self.assertGreater(len(fams), 5)

    def test_process_metrics(self):
        fams = self.node.metrics()
        self.assertEqual(fams["process_resident_memory_bytes"]["type"], "gauge")
        (rss,) = samples(fams, "process_resident_memory_bytes")
        self.assertGreater(rss[2], 1 << 20)
        self.assertLess(rss[2], 1 << 34)
        self.assertEqual(fams["process_start_time_seconds"]["type"], "gauge")
        (start,) = samples(fams, "process_start_time_seconds")
        self.assertGreaterEqual(start[2], self.t_spawn - 2)
        self.assertLessEqual(start[2], self.t_ready + 2)

    def test_bus_metrics(self):
        fams = self.node.metrics()
        self.assertEqual(fams["stratos_bus_queue_depth"]["type"], "gauge")
        rpc = samples(fams, "stratos_bus_queue_depth", module="rpc")
        self.assertEqual(len(rpc), 1, fams["stratos_bus_queue_depth"])
        self.assertGreaterEqual(rpc[0][2], 0)
        self.assertEqual(fams["stratos_bus_dropped_total"]["type"], "counter")
        self.assertTrue(samples(fams, "stratos_bus_dropped_total"))

    def test_http_metrics(self):
        fams = self.node.metrics()
        self.assertEqual(fams["stratos_http_requests_total"]["type"], "counter")
        for name, labels, _ in fams["stratos_http_requests_total"]["samples"]:
            self.assertEqual(set(labels), {"server", "route", "code"}, labels)
            self.assertIn(labels["server"], ("rpc", "gateway"), labels)
        hist = fams["stratos_http_request_duration_seconds"]
        self.assertEqual(hist["type"], "histogram")
        names = {s[0] for s in hist["samples"]}
        base = "stratos_http_request_duration_seconds"
        self.assertEqual(names, {base + "_bucket", base + "_sum", base + "_count"})

    def test_rpc_requests_are_counted(self):
        def rpc_total(fams, **labels):
            return sum(s[2] for s in samples(fams, "stratos_http_requests_total",
                                             server="rpc", **labels))
        before = self.node.metrics()
        for i in range(3):
            resp = self.node.rpc("health", id=i)
            self.assertEqual(self.assertRpcResult(resp, i), {})
        after = self.eventually_metrics(
            lambda f: rpc_total(f, code="200") - rpc_total(before, code="200") >= 3)
        self.assertGreaterEqual(rpc_total(after) - rpc_total(before), 3)
        self.assertGreaterEqual(rpc_total(after, code="200")
                                - rpc_total(before, code="200"), 3)

    def test_gateway_requests_are_counted(self):
        def gw_total(fams):
            return sum(s[2] for s in samples(fams, "stratos_http_requests_total",
                                             server="gateway", code="404"))
        before = self.node.metrics()
        for _ in range(2):
            self.assertEqual(self.node.get("/counted-404")[0], 404)
        after = self.eventually_metrics(
            lambda f: gw_total(f) - gw_total(before) >= 2)
        self.assertGreaterEqual(gw_total(after) - gw_total(before), 2)

    def test_node_survives(self):
        for path in ["/" + "a" * 4000, "/%00", "/..%2f..%2fetc/passwd",
                     "/metrics?x=" + "y" * 1000]:
            with self.subTest(path=path[:40]):
                status, _, body = self.node.get(path)
                self.assertIn(status, (200, 400, 404, 414), body[:200])
        self.assertEqual(self.node.get("/healthz")[0], 200)
        self.assertHealthy(self.node)


if __name__ == "__main__":
    unittest.main()
