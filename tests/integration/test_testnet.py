"""`stratosd testnet`: the homes, genesis and nodes.json of a localnet."""

import json
import os
import stat
import unittest

import harness


class TestnetTest(unittest.TestCase):

    def make(self, *args):
        out = os.path.join(harness.new_tmpdir(self, "st-net-"), "net")
        rc, so, se = harness.run(["testnet", "--out", out] + list(args))
        return out, rc, so, se

    def test_four_validators(self):
        out, rc, so, se = self.make("--validators", "4", "--accounts", "3",
                                    "--base-port", "40000", "--chain-id", "itest-1")
        self.assertEqual(rc, 0, se)
        doc = json.load(open(os.path.join(out, "nodes.json")))
        self.assertEqual(doc["chain_id"], "itest-1")
        nodes = doc["nodes"]
        self.assertEqual([n["name"] for n in nodes], ["node0", "node1", "node2", "node3"])
        genesis = json.load(open(os.path.join(out, "genesis.json")))
        self.assertEqual(genesis["chain_id"], "itest-1")
        self.assertEqual(len(genesis["validators"]), 4)
        self.assertEqual(len(genesis["accounts"]), 4 + 3)
        ports = set()
        for i, n in enumerate(nodes):
            p = n["ports"]
            self.assertEqual((p["p2p"], p["rpc"], p["gateway"]),
                             (40000 + 3 * i, 40001 + 3 * i, 40002 + 3 * i))
            ports |= {p["p2p"], p["rpc"], p["gateway"]}
            self.assertEqual(n["rpc_url"], "http://127.0.0.1:%d/" % p["rpc"])
            self.assertEqual(n["roles"], ["value"])
            self.assertTrue(n["validator"])
            self.assertTrue(n["node_id"].startswith("stsds1"), n)
            self.assertTrue(n["wallet"]["address"].startswith("st1"), n)
            # Each home holds the same genesis and its own keys, 0600.
            home = n["home"]
            self.assertTrue(os.path.isabs(home))
            g = json.load(open(os.path.join(home, "config", "genesis.json")))
            self.assertEqual(g, genesis)
            for key in ("config/node_key.json", "keyring/wallet.json"):
                mode = stat.S_IMODE(os.stat(os.path.join(home, key)).st_mode)
                self.assertEqual(mode, 0o600, key)
            self.assertIn(n["pub_key"], [v["pub_key"] for v in genesis["validators"]])
            self.assertIn(n["wallet"]["address"],
                          [a["address"] for a in genesis["accounts"]])
            # The config peers with the three others and with itself not.
            conf = open(os.path.join(home, "config", "stratosd.conf")).read()
            lines = conf.splitlines()
            at = [i for i, l in enumerate(lines) if l.startswith("persistent_peers")][0]
            text = lines[at].split("=", 1)[1]
            for l in lines[at + 1:]:
                if not l.startswith(" "):
                    break
                text += l
            self.assertTrue(all(len(l) < 200 for l in lines), "config line too long")
            peers = [p.strip() for p in text.split(",") if p.strip()]
            self.assertEqual(sorted(peers), sorted(
                "%s@127.0.0.1:%d" % (m["node_id"], m["ports"]["p2p"])
                for m in nodes if m is not n))
            self.assertIn("laddr = 127.0.0.1:%d" % p["rpc"], conf)
            # The node id in nodes.json is the one `keys`-style tools derive.
            rc2, so2, se2 = harness.run(["keys", "list", "--home", home])
            self.assertEqual(rc2, 0, se2)
            self.assertIn(n["wallet"]["address"], so2)
        self.assertEqual(len(ports), 12)
        accs = sorted(os.listdir(os.path.join(out, "accounts")))
        self.assertEqual(accs, ["acc0.json", "acc1.json", "acc2.json"])

    def test_roles_of_meta_and_resource_nodes(self):
        out, rc, so, se = self.make("--validators", "2", "--meta", "1", "--resource", "1",
                                    "--base-port", "40100")
        self.assertEqual(rc, 0, se)
        nodes = json.load(open(os.path.join(out, "nodes.json")))["nodes"]
        self.assertEqual([n["roles"] for n in nodes],
                         [["value"], ["value"], ["meta"], ["resource"]])
        self.assertEqual([n["validator"] for n in nodes], [True, True, False, False])
        genesis = json.load(open(os.path.join(out, "genesis.json")))
        self.assertEqual(len(genesis["validators"]), 2)

    def test_refuses_an_initialized_dir(self):
        out, rc, so, se = self.make("--validators", "1", "--base-port", "40200")
        self.assertEqual(rc, 0, se)
        rc, so, se = harness.run(["testnet", "--out", out, "--validators", "1"])
        self.assertEqual(rc, 1)
        self.assertIn("already initialized", se)

    def test_bad_flags(self):
        d = harness.new_tmpdir(self)
        for args in (["--validators", "0"], ["--validators", "65"],
                     ["--validators", "x"], ["--validators", "2", "--base-port", "80"],
                     ["--validators", "1", "--frob", "1"]):
            rc, so, se = harness.run(["testnet", "--out", os.path.join(d, "n")] + args)
            self.assertEqual(rc, 2, (args, se))
            self.assertTrue(se.startswith("stratosd: "), se)
        rc, so, se = harness.run(["testnet", "--validators", "1"])
        self.assertEqual(rc, 2)
        self.assertIn("--out", se)


if __name__ == "__main__":
    unittest.main()
