"""Proof-of-Traffic up to the volume report (docs/traffic.md): a localnet
of one validator that is also the meta authority (its gateway serves
files) and two resource nodes, with one replica per slice so that every
byte served is attributable to one holder, and 6-second epochs.

A file whose slices sit on known holders is downloaded once; after the
epoch ends the committed volume report shows exactly each holder's bytes
× download_noz_per_byte, sorted by node, with the node's operator wallet,
and the payer's ozone fell by the report's total; the authority signs
each report and relays it, and the value chain accepts it with the same
volume; the holders keep the receipts, the meta chain refuses none, and
the earnings log of each holder shows its bytes. A payer at zero ozone gets 402 and no
receipt is signed. About 40 s under the sanitizers on two cores.

Python standard library only."""

import os
import time
import unittest

import harness
from harness import NodeTestCase, json_body, samples
from localnet import Localnet
from test_files import Wallet, wait_for

KiB = 1 << 10
BLOCK = 256 * KiB
SLICE = 512 * KiB            # params.meta.slice_size: two blocks
EPOCH_MS = 6000
NOZ_PER_BYTE = 3             # params.meta.download_noz_per_byte
N_RESOURCE = 2
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def addr_key(a):
    """The order of an address's bytes: its bech32 digits (5 bits each,
    most significant first) without the checksum."""
    data = a[a.rindex("1") + 1:-6]
    return [_BECH32.index(c) for c in data]


def traffic_genesis(g):
    v = g["validators"][0]
    g.setdefault("meta_nodes", []).insert(0, {
        "pub_key": v["pub_key"], "owner": g["accounts"][0]["address"],
        "deposit": "1000000000000000000000", "network_address": "127.0.0.1:1",
        "moniker": "gateway"})
    g["params"].setdefault("meta", {}).update({
        "offline_after_ms": 4000, "heartbeat_interval_ms": 500, "slice_size": SLICE,
        "replicas_default": 1, "replicas_min": 1, "replicas_max": 2,
        "upload_noz_per_byte": 1, "epoch_ms": EPOCH_MS,
        "download_noz_per_byte": NOZ_PER_BYTE})


class TrafficTest(NodeTestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.net = Localnet(cls, validators=1, resource=N_RESOURCE, genesis_edit=traffic_genesis)
        cls.net.specs[0]["roles"] = ["value", "meta"]
        cls.net.start_all()
        cls.gw = cls.net.nodes[0]
        cls.res = list(range(1, 1 + N_RESOURCE))
        cls.node_index = {cls.net.specs[i]["node_id"]: i for i in cls.res}
        cls.owner = cls.net.specs[0]["wallet"]["address"]
        token_path = os.path.join(cls.net.specs[0]["home"], "config", "api_token")
        wait_for("the gateway's api_token", lambda: os.path.isfile(token_path), 20)
        with open(token_path) as f:
            cls.auth = {"Authorization": "Bearer " + f.read().strip()}

        def online():
            st = cls.gw.result("resource_status", {})["resource_nodes"]
            on = {n["address"] for n in st if n["mining_status"] == "online"}
            return all(cls.net.specs[i]["node_id"] in on for i in cls.res)
        wait_for("resource nodes online", online, 60)
        start = cls.balance(cls.owner)
        rc, out, err = harness.run(
            ["tx", "prepay", "--amount", "1stos", "--home", cls.net.specs[0]["home"],
             "--from", "wallet", "--mode", "commit", "--rpc", cls.gw.rpc_url], timeout=120)
        if rc != 0:
            raise AssertionError("prepay failed rc=%d\n%s\n%s" % (rc, out, err))
        wait_for("the prepay credited", lambda: cls.balance(cls.owner) > start, 60)

    @classmethod
    def balance(cls, address):
        return int(cls.gw.result("ozone_balance", {"address": address})["balance"])

    def signed(self):
        fams = self.gw.metrics()
        s = samples(fams, "stratos_traffic_receipts_signed_total")
        return s[0][2] if s else 0

    def test_volume_report_and_zero_ozone(self):
        # A file of 7 slices, the last one short: 3.3 MiB.
        size = 6 * SLICE + 300 * KiB
        data = os.urandom(size)
        status, _, body = harness.http_request(
            self.gw.gateway_url, "POST", path="/v1/files", body=data,
            headers=dict(self.auth, **{"X-Stratos-Name": "traffic.bin"}), timeout=120)
        self.assertEqual(status, 201, body[:300])
        fid = json_body(status, body)["id"]
        status, _, body = self.gw.get("/v1/files/%s/info" % fid)
        self.assertEqual(status, 200, body[:300])
        info = json_body(status, body)
        expect = {}
        for k, s in enumerate(info["slices"]):
            self.assertEqual(len(s["holders"]), 1, info)
            self.assertEqual(s["size"], min(SLICE, size - k * SLICE), s)
            expect[s["holders"][0]] = expect.get(s["holders"][0], 0) + s["size"]
        self.assertEqual(sum(expect.values()), size)

        # A payer without ozone: 402 before anything is fetched, no receipt.
        signed0 = self.signed()
        poor = Wallet(os.urandom(32))
        self.assertEqual(self.balance(poor.address), 0)
        path = "/v1/files/%s" % fid
        status, _, body = self.gw.get(path, headers=poor.header("GET", path, 0))
        self.assertEqual(status, 402, body[:300])
        msg = json_body(status, body)["error"]["message"]
        self.assertIn(poor.address, msg)
        self.assertIn("no ozone", msg)

        # The owner downloads the whole file once (public: the owner pays).
        before = self.balance(self.owner)
        e0 = self.gw.result("epoch", {})
        self.assertEqual(e0["epoch_ms"], EPOCH_MS)
        self.assertEqual(e0["ends_ms"] - e0["started_ms"], EPOCH_MS)
        status, _, got = self.gw.get(path)
        self.assertEqual(status, 200)
        self.assertEqual(got, data)
        e1 = self.gw.result("epoch", {})["epoch"]
        self.assertEqual(self.signed() - signed0 >= len(expect), True)
        # The 402 above signed nothing: every receipt is of this download,
        # at most one per block plus one last one per holder.
        self.assertLessEqual(self.signed() - signed0, size // BLOCK + 1 + len(expect))

        # Each holder keeps its sessions' receipts for the meta chain.
        for n in expect:
            node = self.net.nodes[self.node_index[n]]

            def kept():
                s = samples(node.metrics(), "stratos_resource_receipts_kept")
                return s and s[0][2] >= 1
            wait_for("receipts kept on %s" % n, kept, 20)

        # Wait for every epoch the download touched to be reported.
        def reported():
            last = self.gw.result("epoch", {})["last_reported"]
            return last is not None and last >= e1
        wait_for("the volume reports of epochs %d..%d" % (e0["epoch"], e1), reported,
                 4 * EPOCH_MS / 1000 + 30)
        got_vol, total, totals = {}, 0, {}
        for e in range(e0["epoch"], e1 + 1):
            rep = self.gw.result("volume_report", {"epoch": e})
            self.assertEqual(rep["epoch"], e)
            self.assertEqual(rep["meta_chain_id"], "itest-chain-meta")
            nodes = [x["node"] for x in rep["entries"]]
            self.assertEqual(nodes, sorted(nodes, key=addr_key), rep)
            for x in rep["entries"]:
                i = self.node_index[x["node"]]
                self.assertEqual(x["wallet"], self.net.specs[i]["wallet"]["address"], rep)
                got_vol[x["node"]] = got_vol.get(x["node"], 0) + int(x["volume"])
            self.assertEqual(int(rep["total"]), sum(int(x["volume"]) for x in rep["entries"]))
            total += int(rep["total"])
            totals[e] = int(rep["total"])
        self.assertEqual(got_vol, {n: b * NOZ_PER_BYTE for n, b in expect.items()})
        self.assertEqual(total, size * NOZ_PER_BYTE)
        self.assertEqual(before - self.balance(self.owner), total)

        # The one authority signed every report and relayed it from its
        # wallet; the value chain accepted each, in order, with its volume.
        for e in range(e0["epoch"], e1 + 1):
            def accepted():
                r = self.gw.rpc("traffic_report", {"epoch": e})
                return r.get("result")
            tr = wait_for("the value chain's report of epoch %d" % e, accepted, 30)
            self.assertEqual(int(tr["volume"]), totals[e], tr)
            self.assertEqual(tr["signers"], 1, tr)
            rep = self.gw.result("volume_report", {"epoch": e})
            self.assertEqual(rep["signatures"], 1, rep)
            self.assertTrue(rep["relayed"], rep)

        # The meta chain counted receipts and refused none.
        fams = self.gw.metrics()
        self.assertGreaterEqual(
            samples(fams, "stratos_traffic_receipts_submitted_total")[0][2], len(expect))
        self.assertEqual(samples(fams, "stratos_traffic_receipts_refused_total")[0][2], 0)

        # The holders' earnings log names the bytes and the payer.
        for n, b in expect.items():
            ea = self.gw.result("earnings", {"address": n})
            recent = [r for r in ea["recent"] if r["file"] == fid]
            self.assertEqual(sum(r["bytes"] for r in recent), b, ea)
            self.assertEqual(sum(int(r["noz"]) for r in recent), b * NOZ_PER_BYTE, ea)
            self.assertTrue(all(r["payer"] == self.owner for r in recent), ea)

        # An unknown epoch has no report.
        resp = self.gw.rpc("volume_report", {"epoch": e1 + 1000})
        self.assertIn("error", resp)


if __name__ == "__main__":
    unittest.main()
