"""A started node: what `status` and `health` report, the home lock, busy
ports, and shutdown by signal."""

import signal
import time
import unittest

import harness
from harness import Node, NodeTestCase, run

FAIL_TIMEOUT = 15.0


class StatusTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.home, cls.node_id = harness.init_home(cls, moniker="status-node")
        cls.node = Node(cls, cls.home, roles="all")

    def test_status_reports_node_info(self):
        resp = self.node.rpc("status", id=7)
        res = self.assertRpcResult(resp, 7)
        info = res.get("node_info")
        self.assertIsInstance(info, dict, res)
        self.assertTrue(info.get("id", "").startswith("stsds1"), info)
        self.assertEqual(info["id"], self.node_id)
        self.assertEqual(info.get("roles"), ["value", "meta", "resource"])
        self.assertEqual(info.get("moniker"), "status-node")
        self.assertEqual(info.get("version"), harness.cli_version())

    def test_status_uptime_counts_seconds(self):
        res = self.node.result("status")
        up = res.get("uptime_seconds")
        self.assertIs(type(up), int, res)
        self.assertGreaterEqual(up, 0)
        self.assertLess(up, 600)
        time.sleep(1.2)
        up2 = self.node.result("status")["uptime_seconds"]
        self.assertGreaterEqual(up2, up + 1)

    def test_health_is_empty_object(self):
        resp = self.node.rpc("health", id="h")
        self.assertEqual(self.assertRpcResult(resp, "h"), {})


class RolesTest(NodeTestCase):

    def test_status_lists_only_the_chosen_roles(self):
        home, _ = harness.init_home(self)
        node = Node(self, home, roles="resource,value")
        info = node.result("status")["node_info"]
        self.assertEqual(info["roles"], ["value", "resource"])
        self.assertEqual(node.stop(), 0, node.describe())


class LockAndPortTest(NodeTestCase):

    def start_args(self, home, **laddr):
        args = ["start", "--home", home, "--role=all"]
        for name in ("rpc", "gateway", "p2p"):
            args.append("--%s.laddr=127.0.0.1:%d" % (name, laddr.get(name, 0)))
        return args

    def test_second_node_on_same_home_is_refused(self):
        home, node_id = harness.init_home(self)
        first = Node(self, home)
        rc, out, err = run(self.start_args(home), timeout=FAIL_TIMEOUT)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("locked", err)
        self.assertHealthy(first)
        self.assertEqual(first.result("status")["node_info"]["id"], node_id)

    def test_busy_rpc_port(self):
        home, _ = harness.init_home(self)
        port = harness.hold_port(self)
        rc, out, err = run(self.start_args(home, rpc=port), timeout=FAIL_TIMEOUT)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("address already in use", err.lower())
        # The lock went with the failed process: the home starts fine.
        node = Node(self, home)
        self.assertHealthy(node)

    def test_busy_gateway_port(self):
        home, _ = harness.init_home(self)
        port = harness.hold_port(self)
        rc, out, err = run(self.start_args(home, gateway=port),
                           timeout=FAIL_TIMEOUT)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("address already in use", err.lower())


class ShutdownTest(NodeTestCase):

    def check_clean_exit(self, sig):
        home, _ = harness.init_home(self)
        node = Node(self, home)
        self.assertHealthy(node)
        t0 = time.monotonic()
        node.kill(sig)
        rc = node.wait(10)
        self.assertEqual(rc, 0, node.describe())
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("shutting down", node.stderr_text())
        return home

    def test_sigterm_exits_zero(self):
        self.check_clean_exit(signal.SIGTERM)

    def test_sigint_exits_zero_and_home_restarts(self):
        home = self.check_clean_exit(signal.SIGINT)
        node = Node(self, home)
        self.assertHealthy(node)

    def test_restart_after_kill_9(self):
        home, node_id = harness.init_home(self)
        node = Node(self, home)
        self.assertHealthy(node)
        node.kill(signal.SIGKILL)
        self.assertEqual(node.wait(10), -signal.SIGKILL)
        again = Node(self, home)
        self.assertHealthy(again)
        self.assertEqual(again.result("status")["node_info"]["id"], node_id)
        self.assertEqual(again.stop(), 0, again.describe())


if __name__ == "__main__":
    unittest.main()
