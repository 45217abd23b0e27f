"""Parallel uploads and downloads through one gateway (docs/storage.md,
"Flow control"): a localnet of one validator that is also the meta
authority (its gateway serves files) and three resource nodes, slices of
4 MiB (16 blocks), three replicas, so that every slice of every upload
goes to the same three holders at once.

Eight uploads of three slices each are POSTed at the same time (sixteen
transfers to each holder, which takes eight from one peer at a time and
asks for the rest again later), then each file is downloaded by two
clients at the same time. Every upload is recorded (201, the id
recomputed from the bytes), every download is byte-identical, and no
node's P2P send queue dropped a frame (stratos_p2p_send_dropped_total is
0 everywhere) nor did the gateway wait out a block
(stratos_gateway_block_timeouts_total is 0): the gateway keeps the blocks
in flight to each holder within its budget. About 6 s under the
sanitizers on two cores.

Python standard library only."""

import os
import threading
import unittest

import harness
from harness import NodeTestCase, json_body, samples
from localnet import Localnet
from test_files import file_id, wait_for

MiB = 1 << 20
SLICE = 4 * MiB
N_RESOURCE = 3
UPLOADS = 8
SIZE = 3 * SLICE - 1000      # three slices, the last one short


def parallel_genesis(g):
    v = g["validators"][0]
    g.setdefault("meta_nodes", []).insert(0, {
        "pub_key": v["pub_key"], "owner": g["accounts"][0]["address"],
        "deposit": "1000000000000000000000", "network_address": "127.0.0.1:1",
        "moniker": "gateway"})
    g["params"].setdefault("meta", {}).update({
        "offline_after_ms": 8000, "heartbeat_interval_ms": 500, "slice_size": SLICE,
        "replicas_default": 3, "replicas_min": 1, "replicas_max": 3,
        "upload_noz_per_byte": 1, "download_noz_per_byte": 0})


def in_parallel(fns):
    """Runs each fn on its own thread; returns their results in order
    (an exception is returned as the result)."""
    out = [None] * len(fns)

    def run(i):
        try:
            out[i] = fns[i]()
        except Exception as e:  # reported by the caller's assertions
            out[i] = e
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


class ParallelTest(NodeTestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.net = Localnet(cls, validators=1, resource=N_RESOURCE,
                           genesis_edit=parallel_genesis)
        cls.net.specs[0]["roles"] = ["value", "meta"]
        cls.net.start_all()
        cls.gw = cls.net.nodes[0]
        cls.res = list(range(1, 1 + N_RESOURCE))
        owner = cls.net.specs[0]["wallet"]["address"]
        token_path = os.path.join(cls.net.specs[0]["home"], "config", "api_token")
        wait_for("the gateway's api_token", lambda: os.path.isfile(token_path), 20)
        with open(token_path) as f:
            cls.auth = {"Authorization": "Bearer " + f.read().strip()}

        def online():
            st = cls.gw.result("resource_status", {})["resource_nodes"]
            on = {n["address"] for n in st if n["mining_status"] == "online"}
            return all(cls.net.specs[i]["node_id"] in on for i in cls.res)
        wait_for("resource nodes online", online, 60)

        def balance():
            return int(cls.gw.result("ozone_balance", {"address": owner})["balance"])
        start = balance()
        rc, out, err = harness.run(
            ["tx", "prepay", "--amount", "10stos", "--home", cls.net.specs[0]["home"],
             "--from", "wallet", "--mode", "commit", "--rpc", cls.gw.rpc_url], timeout=120)
        if rc != 0:
            raise AssertionError("prepay failed rc=%d\n%s\n%s" % (rc, out, err))
        wait_for("the prepay credited", lambda: balance() > start, 60)

    def counter(self, node, family):
        s = samples(node.metrics(), family)
        return sum(x[2] for x in s)

    def test_parallel_uploads_and_downloads(self):
        datas = [os.urandom(SIZE) for _ in range(UPLOADS)]

        def upload(data):
            return lambda: harness.http_request(
                self.gw.gateway_url, "POST", path="/v1/files", body=data,
                headers=dict(self.auth, **{"X-Stratos-Replicas": "3"}), timeout=300)
        ids = []
        for data, r in zip(datas, in_parallel([upload(d) for d in datas])):
            self.assertNotIsInstance(r, Exception, r)
            status, _, body = r
            self.assertEqual(status, 201, body[:300])
            res = json_body(status, body)
            self.assertEqual(res["id"], file_id(data, SLICE))
            self.assertEqual((res["size"], res["slices"], res["replicas"]), (SIZE, 3, 3))
            ids.append(res["id"])

        # Every slice on the three holders.
        for fid in ids:
            status, _, body = self.gw.get("/v1/files/%s/info" % fid)
            self.assertEqual(status, 200, body[:300])
            for s in json_body(status, body)["slices"]:
                self.assertEqual(len(set(s["holders"])), 3, s)

        def download(fid):
            return lambda: harness.http_request(self.gw.gateway_url, "GET",
                                                path="/v1/files/" + fid, timeout=300)
        jobs = [(i, download(ids[i])) for i in range(UPLOADS) for _ in range(2)]
        for (i, _), r in zip(jobs, in_parallel([j for _, j in jobs])):
            self.assertNotIsInstance(r, Exception, r)
            status, _, body = r
            self.assertEqual(status, 200, body[:300])
            self.assertEqual(len(body), SIZE)
            self.assertTrue(body == datas[i], "download of file %d differs" % i)

        for i in [0] + self.res:
            self.assertEqual(
                self.counter(self.net.nodes[i], "stratos_p2p_send_dropped_total"), 0,
                "node %d dropped P2P frames" % i)
        self.assertEqual(self.counter(self.gw, "stratos_gateway_block_timeouts_total"), 0)
        self.assertEqual(self.counter(self.gw, "stratos_gateway_bad_blocks_total"), 0)


if __name__ == "__main__":
    unittest.main()
