"""`stratosd dev`: the one-process devnet with every role."""

import json
import os
import signal
import time
import unittest

import harness
from harness import Node, NodeTestCase

RSS_LIMIT = 64 << 20


class DevTest(NodeTestCase):

    def dev(self, home, *extra):
        return Node(self, home, mode="dev", extra=list(extra))

    def node_id(self, node):
        return node.result("status")["node_info"]["id"]

    def test_dev_prints_urls_and_runs_all_roles(self):
        home = harness.new_home(self)
        node = self.dev(home)
        lines = node.stdout_text().splitlines()
        rpc_lines = [l for l in lines if "JSON-RPC" in l]
        gw_lines = [l for l in lines if "gateway" in l and not l.startswith("ready ")]
        self.assertTrue(rpc_lines, node.describe())
        self.assertTrue(gw_lines, node.describe())
        self.assertTrue(any(node.rpc_url.rstrip("/") in l for l in rpc_lines),
                        "JSON-RPC line without %s:\n%s" % (node.rpc_url, rpc_lines))
        self.assertTrue(any(node.gateway_url.rstrip("/") in l for l in gw_lines),
                        "gateway line without %s:\n%s" % (node.gateway_url, gw_lines))
        info = node.result("status")["node_info"]
        self.assertEqual(info["roles"], ["value", "meta", "resource"])
        # A fresh dev home is a one-validator network with a funded wallet.
        self.assertEqual(info["network"], "stratos-dev")
        genesis = json.load(open(os.path.join(home, "config", "genesis.json")))
        self.assertEqual(genesis["chain_id"], "stratos-dev")
        self.assertEqual([v["pub_key"] for v in genesis["validators"]], [info["pub_key"]])
        rc, out, err = harness.run(["keys", "show", "dev", "--home", home])
        self.assertEqual(rc, 0, err)
        dev_addr = out.split("address:")[1].split()[0]
        self.assertEqual([a["address"] for a in genesis["accounts"]], [dev_addr])
        self.assertTrue(info["id"].startswith("stsds1"), info)
        self.assertEqual(harness.http_request(node.gateway_url, path="/healthz")[0], 200)
        node.kill(signal.SIGINT)
        self.assertEqual(node.wait(10), 0, node.describe())

    def test_dev_reuses_home_and_reset_wipes_it(self):
        home = harness.new_home(self)
        first = self.dev(home)
        id1 = self.node_id(first)
        first.kill(signal.SIGINT)
        self.assertEqual(first.wait(10), 0, first.describe())
        self.assertTrue(os.path.isfile(os.path.join(home, "config", "stratosd.conf")))

        second = self.dev(home)
        self.assertEqual(self.node_id(second), id1)
        self.assertEqual(second.stop(), 0, second.describe())

        third = self.dev(home, "--reset")
        id3 = self.node_id(third)
        self.assertTrue(id3.startswith("stsds1"), id3)
        self.assertNotEqual(id3, id1)
        self.assertEqual(third.stop(), 0, third.describe())

        fourth = self.dev(home)
        self.assertEqual(self.node_id(fourth), id3)

    def test_idle_rss(self):
        if harness.is_sanitized():
            self.skipTest("built with AddressSanitizer: RSS is not meaningful")
        home = harness.new_home(self)
        node = self.dev(home)
        self.assertHealthy(node)
        time.sleep(2)
        rss = node.rss_bytes()
        self.assertLess(rss, RSS_LIMIT, "idle dev RSS %.1f MiB" % (rss / 1048576))
        self.assertTrue(node.alive())


if __name__ == "__main__":
    unittest.main()
