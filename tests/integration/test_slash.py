"""Slashing a resource node that fails audits (docs/traffic.md, "Slashing"):
a localnet of one validator that is also the meta authority (its gateway
uploads) and two resource nodes, audits every second, one failed audit
slashes.

The copy of a slice on one holder is corrupted; its audits fail, the meta
chain commits a slash report and suspends it (resource_status shows
"suspended"); the authority relays the report, the value chain takes
part of the node's deposit and marks it suspended; new uploads go only to
the other node; a top-up of the deposit by its operator lifts the
suspension on both chains. About 30 s under the sanitizers on two cores.

Python standard library only."""

import os
import time
import unittest

import harness
from harness import NodeTestCase, json_body
from localnet import Localnet
from test_files import wait_for

KiB = 1 << 10
SLICE = 512 * KiB
DEPOSIT = 1000 * 10 ** 18        # each resource node's genesis deposit


def slash_genesis(g):
    v = g["validators"][0]
    g.setdefault("meta_nodes", []).insert(0, {
        "pub_key": v["pub_key"], "owner": g["accounts"][0]["address"],
        "deposit": "1000000000000000000000", "network_address": "127.0.0.1:1",
        "moniker": "gateway"})
    g["params"].setdefault("meta", {}).update({
        "offline_after_ms": 4000, "heartbeat_interval_ms": 500, "slice_size": SLICE,
        "replicas_default": 1, "replicas_min": 1, "replicas_max": 2,
        "upload_noz_per_byte": 1, "audit_interval_ms": 1000,
        "slash_audit_failures": 1, "slash_noz": 1000000000})


class SlashTest(NodeTestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.net = Localnet(cls, validators=1, resource=2, genesis_edit=slash_genesis)
        cls.net.specs[0]["roles"] = ["value", "meta"]
        cls.net.start_all()
        cls.gw = cls.net.nodes[0]
        cls.ids = {cls.net.specs[i]["node_id"]: i for i in (1, 2)}
        token_path = os.path.join(cls.net.specs[0]["home"], "config", "api_token")
        wait_for("the gateway's api_token", lambda: os.path.isfile(token_path), 20)
        with open(token_path) as f:
            cls.auth = {"Authorization": "Bearer " + f.read().strip()}
        wait_for("resource nodes online",
                 lambda: all(cls.status(n) == "online" for n in cls.ids), 60)
        cls.tx(0, ["prepay", "--amount", "1stos"])

    @classmethod
    def tx(cls, i, args):
        rc, out, err = harness.run(
            ["tx"] + args + ["--home", cls.net.specs[i]["home"], "--from", "wallet",
                             "--mode", "commit", "--rpc", cls.gw.rpc_url], timeout=120)
        if rc != 0:
            raise AssertionError("tx %s failed rc=%d\n%s\n%s" % (args[0], rc, out, err))
        return out

    @classmethod
    def status(cls, node_id):
        return cls.gw.result("resource_status", {"address": node_id})["mining_status"]

    def value_node(self, node_id):
        return self.gw.result("resource_node", {"address": node_id})

    def upload(self, data):
        status, _, body = harness.http_request(
            self.gw.gateway_url, "POST", path="/v1/files", body=data,
            headers=dict(self.auth, **{"X-Stratos-Name": "s%d.bin" % len(data)}), timeout=120)
        self.assertEqual(status, 201, body[:300])
        fid = json_body(status, body)["id"]
        status, _, body = self.gw.get("/v1/files/%s/info" % fid)
        self.assertEqual(status, 200, body[:300])
        return json_body(status, body)

    def slice_path(self, i, root):
        top = os.path.join(self.net.specs[i]["home"], "data", "slices")
        for d, _, files in os.walk(top):
            if root + ".slice" in files:
                return os.path.join(d, root + ".slice")
        return None

    def test_failed_audits_slash_suspend_and_top_up(self):
        inf = self.upload(os.urandom(100 * KiB + 7))
        s = inf["slices"][0]
        victim = s["holders"][0]
        other = [n for n in self.ids if n != victim][0]
        path = wait_for("the slice on its holder",
                        lambda: self.slice_path(self.ids[victim], s["root"]), 20)
        with open(path, "r+b") as f:
            f.seek(50 * KiB)
            b = f.read(1)
            f.seek(50 * KiB)
            f.write(bytes([b[0] ^ 0x55]))
        # Its audit fails: slashed and suspended on the meta chain.
        wait_for("the meta chain to suspend the holder",
                 lambda: self.status(victim) == "suspended", 60, 0.5)
        st = self.gw.result("resource_status", {"address": victim})
        self.assertGreaterEqual(st["audits_failed"], 1)
        self.assertEqual(self.status(other), "online")
        # Relayed: the value chain took part of the deposit and suspended it.
        n = wait_for("the value chain to slash the holder",
                     lambda: (lambda v: v if v["suspended"] else None)(self.value_node(victim)),
                     60, 0.5)
        self.assertLess(int(n["deposit"]), DEPOSIT)
        self.assertGreater(int(n["deposit"]), 0)
        self.assertEqual(int(self.value_node(other)["deposit"]), DEPOSIT)
        # A suspended holder gets nothing new.
        for k in range(3):
            inf = self.upload(os.urandom(20 * KiB + k))
            self.assertEqual(inf["slices"][0]["holders"], [other], inf)
        # Its operator tops the deposit up: the suspension is lifted on both
        # chains.
        self.tx(self.ids[victim], ["update-resource-deposit", "--node", victim,
                                   "--amount", "1stos"])
        n = self.value_node(victim)
        self.assertFalse(n["suspended"], n)
        wait_for("the meta chain to lift the suspension",
                 lambda: self.status(victim) == "online", 30, 0.5)


if __name__ == "__main__":
    unittest.main()
