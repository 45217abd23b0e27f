"""The meta-service layer on localnets of real processes: the meta chain
(a second engine instance, equal weights among the meta authorities)
commits the same blocks and ozone balances on every meta node, follows the
value chain's prepays exactly once, survives one crash in four, halts
without forking at two and resumes; resource nodes' heartbeats make them
online, silence makes them offline; bad heartbeats are refused."""

import base64
import time
import unittest

import harness
from harness import NodeTestCase
from localnet import Localnet

STOS = 10 ** 18


def fast_meta(g):
    g["params"]["meta"] = {"offline_after_ms": 6000, "heartbeat_interval_ms": 1000}


def fast_meta_one_candidate(g):
    """The last meta node of the localnet is left out of genesis: it runs
    the meta role but must be voted in."""
    fast_meta(g)
    g["meta_nodes"] = g["meta_nodes"][:-1]


def meta_status(node):
    return node.result("meta_status")


def wait(what, cond, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.3)


def meta_height(node):
    try:
        return meta_status(node)["height"]
    except (AssertionError, OSError):
        return -1


class MetaNet:
    def __init__(self, test, validators=4, meta=4, resource=4, accounts=1, edit=fast_meta):
        self.net = Localnet(test, validators=validators, meta=meta, resource=resource,
                            accounts=accounts, genesis_edit=edit)
        self.v = list(range(validators))
        self.m = list(range(validators, validators + meta))
        self.r = list(range(validators + meta, validators + meta + resource))

    def meta_nodes(self):
        return [self.net.nodes[i] for i in self.m if self.net.nodes[i] and
                self.net.nodes[i].alive()]

    def wait_meta(self, h, nodes=None, timeout=120):
        nodes = nodes or self.meta_nodes()
        return wait("meta height %d" % h,
                    lambda: all(meta_height(n) >= h for n in nodes), timeout)

    def resource_status(self, node, addr):
        return node.result("resource_status", {"address": addr})


class MetaChainTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        # Five meta nodes, four of them authorities from genesis.
        cls.mn = MetaNet(cls, meta=5, edit=fast_meta_one_candidate)
        cls.auth = cls.mn.m[:4]
        cls.cand = cls.mn.m[4]
        cls.mn.net.start_all()
        cls.mn.net.wait_height(2, nodes=[cls.mn.net.nodes[i] for i in cls.mn.v], timeout=90)

    def test_1_meta_chain_agrees_everywhere(self):
        mn = self.mn
        mn.wait_meta(5)
        nodes = mn.meta_nodes()
        st = meta_status(nodes[0])
        self.assertEqual(st["authorities"], 4)
        self.assertTrue(st["chain_id"].endswith("-meta"))
        for h in range(1, 5):
            hashes = {n.result("meta_block", {"height": h})["block_id"]["hash"]
                      for n in nodes}
            self.assertEqual(len(hashes), 1, "meta block %d differs: %s" % (h, hashes))
        # The meta chain follows the value chain.
        v = wait("value heights applied",
                 lambda: min(meta_status(n)["value_height"] for n in nodes) >= 3)
        self.assertTrue(v)
        # Equal weights: every authority has power 1.
        vs = nodes[0].result("meta_validator_set", {})
        self.assertEqual(sorted(x["voting_power"] for x in vs["validators"]), [1, 1, 1, 1])
        self.assertEqual(sorted(x["address"] for x in vs["validators"]),
                         sorted(mn.net.specs[i]["node_id"] for i in self.auth))

    def test_2_resource_nodes_online_then_offline_then_online(self):
        mn = self.mn
        net = mn.net
        addr = net.specs[mn.r[0]]["node_id"]
        wait("resource nodes online everywhere", lambda: all(
            mn.resource_status(n, net.specs[i]["node_id"])["mining_status"] == "online"
            for n in mn.meta_nodes() for i in mn.r))
        net.kill9(mn.r[0])
        wait("the stopped resource node offline everywhere", lambda: all(
            mn.resource_status(n, addr)["mining_status"] == "offline"
            for n in mn.meta_nodes()), timeout=60)
        # The registry's view on a meta node carries the mining status too.
        rn = mn.meta_nodes()[0].result("resource_node", {"address": addr})
        self.assertEqual(rn["mining_status"], "offline")
        self.assertEqual(rn["status"], "active")
        self.assertEqual(rn["score"], 10000)
        self.assertGreater(rn["last_heartbeat_ms"], 0)
        # Placement never picks it: four replicas asked, three online nodes.
        for n in mn.meta_nodes():
            for s in range(20):
                got = n.result("placement", {"slice": "%064x" % s, "replicas": 4})["nodes"]
                addrs = [x["address"] for x in got]
                self.assertNotIn(addr, addrs)
                self.assertEqual(len(addrs), 3)
                self.assertEqual(len(set(addrs)), 3)
        # Heartbeats carry what the slice store holds and what is left of
        # the registered capacity; the node exports the same as metrics.
        other = net.specs[mn.r[1]]["node_id"]
        st = mn.resource_status(mn.meta_nodes()[0], other)
        self.assertEqual(st["capacity_used"], 0)
        self.assertEqual(st["capacity_free"], st["capacity"])
        fams = net.nodes[mn.r[1]].metrics()
        self.assertEqual(fams["stratos_resource_stored_slices"]["type"], "gauge")
        self.assertEqual(fams["stratos_resource_stored_slices"]["samples"][0][2], 0)
        # The others stay online.
        for i in mn.r[1:]:
            self.assertEqual(mn.resource_status(mn.meta_nodes()[0],
                                                net.specs[i]["node_id"])["mining_status"],
                             "online")
        net.start(mn.r[0])
        wait("the restarted resource node online again", lambda: all(
            mn.resource_status(n, addr)["mining_status"] == "online"
            for n in mn.meta_nodes()), timeout=60)
        got = mn.meta_nodes()[0].result("placement", {"slice": "ab", "replicas": 4})["nodes"]
        self.assertIn(addr, [x["address"] for x in got])
        # Bad placement requests.
        r = mn.meta_nodes()[0].rpc("placement", {"slice": "zz", "replicas": 3})
        self.assertEqual(r["error"]["code"], -32602)
        r = mn.meta_nodes()[0].rpc("placement", {"slice": "ab", "replicas": 17})
        self.assertEqual(r["error"]["code"], -32602)

    def test_3_bad_heartbeats_refused(self):
        mn = self.mn
        node = mn.meta_nodes()[0]
        before = node.result("resource_status", {})
        # Garbage, and a heartbeat-shaped message with a zero signature.
        r = node.result("broadcast_heartbeat", {"tx": base64.b64encode(b"\x12\x03abc").decode()})
        self.assertNotEqual(r["code"], 0)
        body = b"\x08\x01"  # time_ms = 1
        hb = _bytes(1, body) + _bytes(2, bytes(32)) + _bytes(3, bytes(64))
        r = node.result("broadcast_heartbeat",
                        {"tx": base64.b64encode(_bytes(2, hb)).decode()})
        self.assertNotEqual(r["code"], 0)
        self.assertIn("signature", r["log"])
        resp = node.rpc("broadcast_heartbeat", {"tx": "%%%"})
        self.assertEqual(resp["error"]["code"], -32602)
        # Properly signed, but by a key that is no registered resource node.
        home = mn.net.specs[mn.r[1]]["home"]
        rc, out, err = harness.run(["heartbeat", "--home", home,
                                    "--key", mn.net.key_path(0)])
        self.assertEqual(rc, 0, err)
        r = node.result("broadcast_heartbeat", {"tx": out.strip()})
        self.assertNotEqual(r["code"], 0)
        self.assertIn("not a registered active resource node", r["log"])
        # A registered node's old heartbeat (a replay) is refused once a
        # later one was applied; a fresh one is taken.
        wait("the node's heartbeats applied", lambda: mn.resource_status(
            node, mn.net.specs[mn.r[1]]["node_id"])["last_heartbeat_ms"] > 0)
        rc, out, err = harness.run(["heartbeat", "--home", home, "--time-ms", "5"])
        self.assertEqual(rc, 0, err)
        r = node.result("broadcast_heartbeat", {"tx": out.strip()})
        self.assertIn("not newer", r["log"])  # its node has sent later ones
        # Dated a little ahead, so that the node's own (sent every second)
        # cannot be newer.
        ahead = int(time.time() * 1000) + 10000
        rc, out, err = harness.run(["heartbeat", "--home", home, "--time-ms", str(ahead)])
        r = node.result("broadcast_heartbeat", {"tx": out.strip()})
        self.assertEqual(r["code"], 0, r)
        after = node.result("resource_status", {})
        self.assertEqual(len(before["resource_nodes"]), len(after["resource_nodes"]))

    def test_5_prepay_credits_the_formula_once_everywhere(self):
        mn = self.mn
        net = mn.net
        me = net.specs[0]["wallet"]["address"]
        x = STOS
        pool = net.nodes[0].result("prepay_pool")
        want1 = quote(pool, x)
        self.assertGreater(want1, 0)
        _, res, _ = tx(net, 0, "prepay", "--amount", "1stos")
        h1 = res["height"]
        pool2 = net.nodes[0].result("prepay_pool")
        self.assertEqual(int(pool2["prepay_pool"]), int(pool["prepay_pool"]) + x)
        self.assertEqual(int(pool2["ozone_limit"]), int(pool["ozone_limit"]) - want1)
        want2 = quote(pool2, x)
        self.assertLess(want2, want1)  # the price went up
        _, res, _ = tx(net, 0, "prepay", "--amount", "1stos")
        h2 = res["height"]
        wait("the meta chain past both prepays", lambda: all(
            meta_status(n)["value_height"] >= h2 for n in mn.meta_nodes()))
        for n in mn.meta_nodes():
            bal = n.result("ozone_balance", {"address": me})
            self.assertEqual(int(bal["balance"]), want1 + want2, (n.home, bal, h1, h2))
        # Later blocks never credit them again.
        time.sleep(2)
        for n in mn.meta_nodes():
            self.assertEqual(int(n.result("ozone_balance", {"address": me})["balance"]),
                             want1 + want2)
        # A prepay of nothing is refused (by the client and by the node).
        rc, _, err = tx(net, 0, "prepay", "--amount", "0", ok=False)
        self.assertNotEqual(rc, 0)

    def test_6_meta_node_voted_in_signs_then_kicked(self):
        mn = self.mn
        net = mn.net
        cand = net.specs[self.cand]
        node_id = cand["node_id"]
        tx(net, self.cand, "create-meta-node", "--node-home", cand["home"],
           "--deposit", "10stos", "--network-address", "127.0.0.1:1", "--moniker", "cand")
        self.assertEqual(net.nodes[0].result("meta_node", {"address": node_id})["status"],
                         "pending")
        # A vote from a node that is no authority changes nothing.
        rc, res, _ = tx(net, self.cand, "meta-vote", "--candidate", node_id,
                        "--voter", node_id, "--approve", ok=False)
        self.assertNotEqual(rc, 0)
        # 4 active: approval at 4*2/3+1 = 3 yes votes; two are not enough.
        for i in self.auth[:2]:
            tx(net, i, "meta-vote", "--candidate", node_id,
               "--voter", net.specs[i]["node_id"], "--approve")
        self.assertEqual(net.nodes[0].result("meta_node", {"address": node_id})["status"],
                         "pending")
        i = self.auth[2]
        tx(net, i, "meta-vote", "--candidate", node_id, "--voter", net.specs[i]["node_id"],
           "--approve")
        self.assertEqual(net.nodes[0].result("meta_node", {"address": node_id})["status"],
                         "active")
        # The meta chain takes it in and it signs meta blocks.
        node = net.nodes[0]
        wait("the candidate in the meta authorities", lambda: node_id in [
            v["address"] for v in mn.meta_nodes()[0].result(
                "meta_validator_set", {})["validators"]], timeout=60)

        def signed():
            n = mn.meta_nodes()[0]
            h = meta_status(n)["height"]
            sigs = n.result("meta_commit", {"height": h - 1})[
                "signed_header"]["commit"]["signatures"]
            return node_id in [s.get("validator_address") for s in sigs]
        wait("a meta commit signed by the new authority", signed, timeout=60)
        # Kicked: 5 active, 4 kick votes needed.
        for i in self.auth:
            tx(net, i, "kick-meta", "--target", node_id, "--voter", net.specs[i]["node_id"],
               "--kick")
        self.assertEqual(node.result("meta_node", {"address": node_id})["status"], "kicked")
        wait("the kicked node out of the meta authorities", lambda: node_id not in [
            v["address"] for v in mn.meta_nodes()[0].result(
                "meta_validator_set", {})["validators"]], timeout=60)

    def test_4_one_crash_goes_on_two_halt_restart_resumes(self):
        mn = self.mn
        net = mn.net
        a, b = self.auth[2], self.auth[3]
        h0 = max(meta_height(n) for n in mn.meta_nodes())
        net.kill9(a)
        mn.wait_meta(h0 + 3)
        net.kill9(b)
        time.sleep(2)
        stuck = [meta_height(n) for n in mn.meta_nodes()]
        time.sleep(4)
        self.assertEqual([meta_height(n) for n in mn.meta_nodes()], stuck,
                         "two of four authorities down, yet the meta chain moved")
        net.start(a)
        net.start(b)
        top = max(stuck)
        mn.wait_meta(top + 3, timeout=120)
        # Never forked: every meta node has the same hash at every height.
        nodes = mn.meta_nodes()
        for h in range(1, top + 3):
            hashes = {n.result("meta_block", {"height": h})["block_id"]["hash"]
                      for n in nodes}
            self.assertEqual(len(hashes), 1, "meta block %d differs" % h)


def quote(pool, x):
    S, Pt, Lt = (int(pool[k]) for k in ("total_deposit", "prepay_pool", "ozone_limit"))
    return Lt * x // (S + Pt + x)


def tx(net, i, *args, ok=True):
    """Signed by node i's wallet, sent through validator 0 (always in
    step; a node restarted by an earlier test may still be catching up)."""
    spec = net.specs[i]
    rc, out, err = harness.run(["tx"] + list(args) + [
        "--home", spec["home"], "--from", "wallet", "--mode", "commit",
        "--rpc", net.specs[0]["rpc_url"]], timeout=120)
    body = out[out.find("{"):] if "{" in out else ""
    import json
    res = json.loads(body) if body else None
    if ok and (rc != 0 or not res or res["tx_result"]["code"] != 0):
        raise AssertionError("tx %s failed rc=%d\n%s\n%s" % (args, rc, out, err))
    return rc, res, err


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes(field, data):
    return _varint(field << 3 | 2) + _varint(len(data)) + data


if __name__ == "__main__":
    unittest.main()
