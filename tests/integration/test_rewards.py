"""Proof-of-Traffic to the wei (docs/traffic.md, "Rewards"): a localnet
of one validator that is also a meta authority (its gateway serves
files, block cache off so every download draws receipts), a second meta
authority, two resource nodes, one replica per slice, 3-second epochs
and download_noz_per_byte 10000; every reward parameter (mature_epoch 2,
community_tax_bps 100, the schedule) is the default. The gateway's meta
node is owned by a genesis account that does nothing else, so its
balance moves only by what it withdraws; the other is owned by its own
wallet, which may relay reports.

Every report the value chain accepts is checked against a computation
of its own from the formulas of docs/traffic.md, starting from S, Pt, Lt
(`prepay_pool`), the sds_pool and foundation balances and the total
mined, read at one height before the report, and carried from report to
report (Pt -= R', Lt += Y): R formula, R', M', tax, every resource share
(pro rata to volume), the meta share (two active meta nodes: half of it,
floored, to each owner), the validators' share, and each wallet's
immature reward.

- test_1_wash_traffic, foundation EMPTY: the owner of a resource node
  prepays X, then downloads with a wallet-signed request (so it is the
  payer) a one-slice file held only by its own node, again and again over
  a few epochs until its ozone is gone (402); it withdraws its matured
  rewards; counting the prepay, both fees and the rewards, it ends with
  less STOS than it started with (R <= X, and it gets at most 0.6·0.99 of
  R). The file is published by the gateway's wallet, which only spares the
  washer the upload's ozone. With a funded foundation this no longer
  holds: the mining reward M is paid every epoch whatever the traffic and
  its resource share (48 of 80 STOS in the first tier) goes pro rata to
  volume, so wash volume buys a share of it — docs/traffic.md, "Wash
  traffic", documents that limit.
- test_2_rewards_to_the_wei: the foundation is funded (tx
  foundation-deposit of 100 STOS and 7 wei: one full mining reward, after
  which M is capped at the foundation's balance); a file whose slices sit
  on both resource nodes is downloaded once; the report(s) pay exactly as
  computed; after mature_epoch more reports each resource wallet
  withdraws everything and the gateway's meta owner a given amount, and
  each balance rises by exactly the matured amount less the tx's fee; a
  withdrawal of more than has matured, or with nothing matured, is
  refused by the mempool and changes nothing.
- test_3_conservation: the sum of every balance the chain can list — the
  genesis accounts, the module accounts of `pools` (bonded and unbonding
  stake, distribution, community pool, gov), `foundation` and
  `traffic_rewards` (which holds every immature and matured reward) from
  `foundation`, and `sds_pool`, `node_deposits` (addresses derived as the
  chain derives them, checked against the ones it shows) — read at one
  height is the same before and after a report that pays R and M (M
  capped at the foundation's balance by then), and the same as at the
  start of the class.

About 30-50 s under the sanitizers on two cores. Python standard library
only."""

import hashlib
import json
import os
import time
import unittest

import harness
from harness import NodeTestCase, json_body, samples
from localnet import Localnet
from test_files import Wallet, bech32, wait_for

KiB = 1 << 10
STOS = 10 ** 18
SLICE = 512 * KiB           # params.meta.slice_size: two blocks
EPOCH_MS = 3000
NOZ_PER_BYTE = 10000        # params.meta.download_noz_per_byte
MATURE = 2                  # params.traffic.mature_epoch (the default)
TAX_BPS = 100               # params.traffic.community_tax_bps (the default)
TIER0 = (16819200 * STOS, 80 * STOS, 6000, 2000, 2000)
DOM_MODULE = 0x14           # ST_DOM_MODULE


def module_address(name):
    """A module account's address: st_hash(ST_DOM_MODULE, name)[:20]."""
    h = hashlib.blake2b(bytes([DOM_MODULE]) + name.encode(), digest_size=32).digest()
    return bech32("st", h[:20])


def expected_payment(S, Pt, Lt, sds_bal, found_bal, mined, vols, nmeta):
    """What a report with entry volumes vols pays, by docs/traffic.md:
    every division floored, what the floors leave stays in the prepay
    pool up to R - tax, the rest in the foundation."""
    upto, reward, res_bps, meta_bps, val_bps = TIER0
    assert mined < upto, "the test stays in the first tier"
    Y = sum(vols)
    r_formula = (S + Pt) * Y // (Lt + Y) if Y else 0
    R = min(r_formula, sds_bal, Pt)
    M = min(reward, found_bal)
    tax = R * TAX_BPS // 10000
    base = R - tax + M
    res = base * res_bps // 10000
    meta = base * meta_bps // 10000
    val = base * val_bps // 10000
    each_res = [res * v // Y for v in vols]
    each_meta = meta // nmeta
    paid = tax + sum(each_res) + each_meta * nmeta + val
    dust = R + M - paid
    keep_r = min(dust, R - tax)
    return {"volume": Y, "traffic_reward_formula": r_formula,
            "traffic_reward": R - keep_r, "mining_reward": M - (dust - keep_r),
            "community_tax": tax, "resource_share": sum(each_res),
            "meta_share": each_meta * nmeta, "validators_share": val,
            "each_res": each_res, "each_meta": each_meta, "unpaid_prepay": keep_r}


def rewards_genesis(g):
    others = {v["operator"] for v in g["validators"]} | {
        r["owner"] for r in g.get("resource_nodes", []) + g.get("meta_nodes", [])}
    meta_owner = [a["address"] for a in g["accounts"] if a["address"] not in others][0]
    v = g["validators"][0]
    g.setdefault("meta_nodes", []).insert(0, {
        "pub_key": v["pub_key"], "owner": meta_owner,
        "deposit": "1000000000000000000000", "network_address": "127.0.0.1:1",
        "moniker": "gateway"})
    g["params"].setdefault("meta", {}).update({
        "offline_after_ms": 4000, "heartbeat_interval_ms": 500, "slice_size": SLICE,
        "replicas_default": 1, "replicas_min": 1, "replicas_max": 2,
        "upload_noz_per_byte": 1, "epoch_ms": EPOCH_MS,
        "download_noz_per_byte": NOZ_PER_BYTE})


class RewardsTest(NodeTestCase):
    maxDiff = 6000

    @classmethod
    def setUpClass(cls):
        cls.net = Localnet(cls, validators=1, meta=1, resource=2, accounts=1,
                           genesis_edit=rewards_genesis)
        cls.net.specs[0]["roles"] = ["value", "meta"]
        cls.net.start(0, extra=["--gateway.cache_mb=0"])
        for i in (1, 2, 3):
            cls.net.start(i)
        cls.gw = cls.net.nodes[0]
        cls.res = [2, 3]
        cls.node_index = {cls.net.specs[i]["node_id"]: i for i in cls.res}
        cls.owner = cls.net.specs[0]["wallet"]["address"]
        cls.meta_owner = cls.net.account_address(0)
        g = cls.net.genesis
        # Two meta authorities: the gateway (owned by a genesis account that
        # does nothing else) and node1 (owned by its own wallet, which may
        # relay reports and so pay fees).
        cls.meta_owners = [m["owner"] for m in g["meta_nodes"]]
        assert cls.meta_owners == [cls.meta_owner, cls.net.specs[1]["wallet"]["address"]]
        assert g["params"]["traffic"] == {"community_tax_bps": TAX_BPS,
                                          "mature_epoch": MATURE}, g["params"]["traffic"]
        cls.accounts = [a["address"] for a in g["accounts"]]
        token_path = os.path.join(cls.net.specs[0]["home"], "config", "api_token")
        wait_for("the gateway's api_token", lambda: os.path.isfile(token_path), 20)
        with open(token_path) as f:
            cls.auth = {"Authorization": "Bearer " + f.read().strip()}

        def online():
            st = cls.gw.result("resource_status", {})["resource_nodes"]
            on = {n["address"] for n in st if n["mining_status"] == "online"}
            return all(cls.net.specs[i]["node_id"] in on for i in cls.res)
        wait_for("resource nodes online", online, 60)
        f = cls.gw.result("foundation", {})
        cls.modules = {"foundation": f["address"],
                       "traffic_rewards": f["traffic_rewards"]["address"],
                       "sds_pool": module_address("sds_pool"),
                       "node_deposits": module_address("node_deposits")}
        assert (module_address("foundation"), module_address("traffic_rewards")) == (
            cls.modules["foundation"], cls.modules["traffic_rewards"]), f
        cls.genesis_total = None
        # The gateway's wallet prepays the ozone of its uploads and of the
        # public downloads (the file's owner pays), and a first report lands.
        rc, out, err = harness.run(
            ["tx", "prepay", "--amount", "3stos", "--home", cls.net.specs[0]["home"],
             "--from", "wallet", "--mode", "commit", "--rpc", cls.gw.rpc_url], timeout=120)
        if rc != 0:
            raise AssertionError("prepay failed rc=%d\n%s\n%s" % (rc, out, err))
        wait_for("the prepay credited", lambda: int(cls.gw.result(
            "ozone_balance", {"address": cls.owner})["balance"]) > 0, 30)
        wait_for("a first report on the value chain",
                 lambda: cls.gw.result("foundation", {})["last_epoch"] is not None, 30)

    # -- helpers -----------------------------------------------------------

    def tx(self, i, *args, key=None, ok=True):
        """`stratosd tx ARGS` signed by node i's wallet (or a key file),
        committed; returns the tx result (which must be a success unless
        not ok)."""
        spec = self.net.specs[i]
        signer = ["--key", key] if key else ["--from", "wallet"]
        rc, out, err = harness.run(
            ["tx"] + list(args) + ["--home", spec["home"], "--mode", "commit",
                                   "--rpc", self.gw.rpc_url] + signer, timeout=120)
        body = out[out.find("{"):] if "{" in out else ""
        res = json.loads(body) if body else None
        if not ok:
            self.assertNotEqual(rc, 0, out)
            self.assertTrue(res, (args, rc, out, err))
            return res
        if rc != 0 or not res:
            raise AssertionError("tx %s failed rc=%d\n%s\n%s" % (args, rc, out, err))
        self.assertEqual(res["tx_result"]["code"], 0, res)
        return res

    def balance(self, address):
        return int(self.gw.result("account", {"address": address})["balance"])

    def ozone(self, address):
        return int(self.gw.result("ozone_balance", {"address": address})["balance"])

    def last_epoch(self):
        return self.gw.result("foundation", {})["last_epoch"]

    def snapshot(self):
        """The value chain at one height: every balance it can list, the
        sds pool record, the foundation's record. Read in one JSON-RPC
        batch between two `status` calls that show the same height."""
        addrs = list(self.accounts) + list(self.modules.values())
        earners = self.meta_owners + [self.net.specs[i]["wallet"]["address"]
                                       for i in self.res]
        calls = ([("status", {}), ("foundation", {}), ("prepay_pool", {}), ("pools", {})]
                 + [("account", {"address": a}) for a in addrs]
                 + [("traffic_rewards", {"address": a}) for a in earners] + [("status", {})])
        batch = [{"jsonrpc": "2.0", "id": k, "method": m, "params": p}
                 for k, (m, p) in enumerate(calls)]
        for _ in range(40):
            status, _, body = self.gw.rpc_raw(json.dumps(batch).encode())
            resp = sorted(json_body(status, body), key=lambda r: r["id"])
            for r in resp:
                if "result" not in r:
                    raise AssertionError("snapshot: %r" % r)
            res = [r["result"] for r in resp]
            h0 = int(res[0]["sync_info"]["latest_block_height"])
            h1 = int(res[-1]["sync_info"]["latest_block_height"])
            if h0 != h1:
                time.sleep(0.05)
                continue
            pools = res[3]
            bal = {a: int(r["balance"]) for a, r in zip(addrs, res[4:4 + len(addrs)])}
            rewards = dict(zip(earners, res[4 + len(addrs):-1]))
            owed = {a: int(r["immature_total"]) + int(r["matured"])
                    for a, r in rewards.items()}
            for name, p in pools.items():
                bal[p["address"]] = int(p["balance"])
            f, pp = res[1], res[2]
            self.assertEqual(int(f["balance"]), bal[self.modules["foundation"]], f)
            self.assertEqual(int(f["traffic_rewards"]["balance"]),
                             bal[self.modules["traffic_rewards"]], f)
            return {"height": h0, "last_epoch": f["last_epoch"],
                    "mined": int(f["total_mined"]), "S": int(pp["total_deposit"]),
                    "Pt": int(pp["prepay_pool"]), "Lt": int(pp["ozone_limit"]),
                    "sds": bal[self.modules["sds_pool"]],
                    "found": bal[self.modules["foundation"]],
                    "balances": bal, "total": sum(bal.values()), "pools": sorted(pools),
                    "owed": owed, "rewards": rewards}
        raise AssertionError("no consistent snapshot: the height kept moving")

    def wait_reported(self, epoch, timeout=None):
        """Waits until the value chain accepted the report of epoch."""
        def done():
            last = self.last_epoch()
            return last is not None and last >= epoch
        wait_for("the value chain's report of epoch %d" % epoch, done,
                 timeout or 4 * EPOCH_MS / 1000 + 30)

    def walk(self, snap, upto):
        """Checks every report after snap's last epoch up to epoch upto
        against expected_payment, carrying the pools from one to the
        next; returns ({epoch: {wallet: credit}}, the carried state, the
        reports)."""
        st = dict(S=snap["S"], Pt=snap["Pt"], Lt=snap["Lt"], sds=snap["sds"],
                  found=snap["found"], mined=snap["mined"])
        credits, reports = {}, {}
        self.caps = []
        for e in range(snap["last_epoch"] + 1, upto + 1):
            tr = self.gw.result("traffic_report", {"epoch": e})
            reports[e] = tr
            entries = tr["report"]["entries"]
            vols = [int(x["volume"]) for x in entries]
            self.assertEqual(int(tr["report"]["total"]), sum(vols), tr)
            self.assertEqual(tr["active_meta_nodes"], 2, tr)
            self.assertEqual(tr["signers"], 2, tr)
            exp = expected_payment(st["S"], st["Pt"], st["Lt"], st["sds"], st["found"],
                                   st["mined"], vols, 2)
            got = {k: int(tr[k]) for k in exp if k in tr}
            want = {k: exp[k] for k in got}
            self.assertEqual(got, want, "report of epoch %d from S=%d Pt=%d Lt=%d "
                             "sds=%d foundation=%d mined=%d: %r"
                             % (e, st["S"], st["Pt"], st["Lt"], st["sds"], st["found"],
                                st["mined"], tr))
            c = {}
            for x, amt in zip(entries, exp["each_res"]):
                if amt:
                    c[x["wallet"]] = c.get(x["wallet"], 0) + amt
            for w in self.meta_owners if exp["each_meta"] else ():
                c[w] = c.get(w, 0) + exp["each_meta"]
            credits[e] = c
            self.caps.append(st["found"] < TIER0[1])
            st["Pt"] -= exp["traffic_reward"]
            st["sds"] -= exp["traffic_reward"]
            st["Lt"] += exp["volume"]
            st["found"] -= exp["mining_reward"]
            st["mined"] += exp["mining_reward"]
        return credits, st, reports

    def check_carried(self, st, snap):
        """The pools read at snap are those carried by walk."""
        self.assertEqual({k: snap[k] for k in ("S", "Pt", "Lt", "sds", "found", "mined")},
                         st)

    def upload(self, size, want_holders):
        """Uploads random files of size until the slices' holders are
        exactly want_holders (a set of node ids, or None: any one);
        returns (id, data, {holder: bytes})."""
        for _ in range(12):
            data = os.urandom(size)
            status, _, body = harness.http_request(
                self.gw.gateway_url, "POST", path="/v1/files", body=data,
                headers=dict(self.auth, **{"X-Stratos-Name": "r.bin"}), timeout=120)
            self.assertEqual(status, 201, body[:300])
            fid = json_body(status, body)["id"]
            status, _, body = self.gw.get("/v1/files/%s/info" % fid)
            self.assertEqual(status, 200, body[:300])
            held = {}
            for k, s in enumerate(json_body(status, body)["slices"]):
                self.assertEqual(len(s["holders"]), 1, s)
                self.assertEqual(s["size"], min(SLICE, size - k * SLICE), s)
                held[s["holders"][0]] = held.get(s["holders"][0], 0) + s["size"]
            if (want_holders is None and len(held) == 1) or set(held) == want_holders:
                return fid, data, held
        raise AssertionError("no upload placed its slices on %r" % want_holders)

    def test_0_worked_example(self):
        """The calculator reproduces docs/traffic.md's worked example."""
        e = expected_payment(40 * STOS, 12 * STOS, 10 ** 15, 12 * STOS, 1000 * STOS, 0,
                             [3 * 10 ** 12, 10 ** 12], 3)
        self.assertEqual(e["traffic_reward_formula"], 207171314741035856)
        self.assertEqual(e["community_tax"], 2071713147410358)
        self.assertEqual(e["each_res"], [36092294820717131473, 12030764940239043824])
        self.assertEqual(e["each_meta"], 5347006640106241699)
        self.assertEqual(e["validators_share"], 16041019920318725099)
        self.assertEqual(e["unpaid_prepay"], 5)
        self.assertEqual(e["traffic_reward"] + e["mining_reward"],
                         207171314741035856 + 80 * STOS - 5)
        # The class's starting total, for test_3.
        type(self).genesis_total = self.snapshot()["total"]

    # -- 1. wash traffic ---------------------------------------------------

    def test_1_wash_traffic(self):
        snap0 = self.snapshot()
        self.assertEqual(snap0["found"], 0, "the foundation must be empty here")
        fid, data, held = self.upload(SLICE, None)
        node_id = next(iter(held))
        i = self.node_index[node_id]
        spec = self.net.specs[i]
        washer = Wallet.from_keyfile(os.path.join(spec["home"], "keyring", "wallet.json"))
        self.assertEqual(washer.address, spec["wallet"]["address"])
        self.assertEqual(self.ozone(washer.address), 0)
        b0 = self.balance(washer.address)

        # Prepay X for about 2.5 downloads' ozone at the current price.
        p = self.snapshot()
        per_dl = SLICE * NOZ_PER_BYTE
        X = 5 * per_dl * (p["S"] + p["Pt"]) // (2 * p["Lt"])
        noz = p["Lt"] * X // (p["S"] + p["Pt"] + X)
        self.assertGreater(X, 10 ** 16)
        res = self.tx(i, "prepay", "--amount", str(X))
        fee_prepay = int(res["tx_result"]["fee"])
        wait_for("the prepay credited", lambda: self.ozone(washer.address) == noz, 30)
        snap = self.snapshot()
        self.assertEqual((snap["Pt"], snap["Lt"]), (p["Pt"] + X, p["Lt"] - noz))
        self.assertEqual(snap["balances"][washer.address], b0 - X - fee_prepay)

        # Its own file from its own node, paid by itself, until no ozone is left.
        path = "/v1/files/%s" % fid
        left, downloads = noz, 0
        while left > 0:
            status, _, got = self.gw.get(path, headers=washer.header("GET", path, 0))
            self.assertEqual(status, 200, got[:300])
            self.assertEqual(got, data)
            downloads += 1
            left = max(0, left - per_dl)
            wait_for("the washer's ozone at %d" % left,
                     lambda: self.ozone(washer.address) == left, 30)
        self.assertEqual(downloads, 3)
        status, _, body = self.gw.get(path, headers=washer.header("GET", path, 0))
        self.assertEqual(status, 402, body[:300])
        e_end = self.gw.result("epoch", {})["epoch"]
        self.wait_reported(e_end)
        now = self.snapshot()
        credits, st, reports = self.walk(snap, now["last_epoch"])
        self.check_carried(st, now)
        vol = sum(int(x["volume"]) for r in reports.values() for x in r["report"]["entries"]
                  if x["node"] == node_id)
        self.assertEqual(vol, noz, reports)
        self.assertTrue(all(x["node"] == node_id and x["wallet"] == washer.address
                            for r in reports.values() for x in r["report"]["entries"]),
                        reports)
        self.assertTrue(all(int(r["mining_reward"]) == 0 for r in reports.values()))
        # R by the formula (no cap binds here; what the floors leave stays
        # in the prepay pool, so the pool pays R' <= R).
        R = sum(int(r["traffic_reward_formula"]) for r in reports.values())
        self.assertLessEqual(sum(int(r["traffic_reward"]) for r in reports.values()), R)
        earned = sum(c.get(washer.address, 0) for c in credits.values())
        self.assertLessEqual(R, X)
        # At most 0.6 of R less its 1% tax: per report 0.6 (R - floor(R / 100))
        # <= 0.6 (0.99 R + 1).
        self.assertLessEqual(earned * 1000, 594 * R + 600 * len(reports))
        self.assertGreater(earned, 0)
        wash_epochs = [e for e, c in credits.items() if washer.address in c]

        # Matured after mature_epoch more reports: withdraw it all.
        def matured():
            r = self.gw.result("traffic_rewards", {"address": washer.address})
            return r if int(r["immature_total"]) == 0 and int(r["matured"]) > 0 else None
        self.wait_reported(max(wash_epochs) + MATURE)
        r = wait_for("the washer's rewards matured", matured, 20)
        self.assertEqual(int(r["matured"]), earned, r)
        self.assertEqual(int(r["withdrawn"]), 0, r)
        before = self.balance(washer.address)
        self.assertEqual(before, b0 - X - fee_prepay)
        res = self.tx(i, "withdraw-traffic")
        fee_w = int(res["tx_result"]["fee"])
        after = self.balance(washer.address)
        self.assertEqual(after, before + earned - fee_w)
        r = self.gw.result("traffic_rewards", {"address": washer.address})
        self.assertEqual((int(r["matured"]), int(r["withdrawn"])), (0, earned), r)
        self.assertEqual(after, b0 - X - fee_prepay - fee_w + earned)
        self.assertLess(after, b0, "wash traffic paid: in %d, back %d" % (X, earned))
        type(self).wash = {"X": X, "earned": earned, "R": R, "loss": b0 - after}

    # -- 2. rewards to the wei ---------------------------------------------

    def test_2_rewards_to_the_wei(self):
        # Enough for one full mining reward, not two: the reports after
        # the first take M = the foundation's balance (the cap).
        deposit = 100 * STOS + 7
        f0 = self.snapshot()
        res = self.tx(0, "foundation-deposit", "--amount", str(deposit))
        h = int(res["height"])
        size = 5 * SLICE + 100 * KiB
        fid, data, held = self.upload(size, {self.net.specs[i]["node_id"] for i in self.res})
        wait_for("the owner's ozone",
                               lambda: self.ozone(self.owner) >= size * NOZ_PER_BYTE, 30)
        snap = self.snapshot()
        # The deposit landed, and each report since paid M' out of it.
        paid_m = sum(int(self.gw.result("traffic_report", {"epoch": e})["mining_reward"])
                     for e in range(f0["last_epoch"] + 1, snap["last_epoch"] + 1))
        self.assertEqual(snap["found"], deposit - paid_m)
        self.assertGreater(snap["found"], 0)

        oz = self.ozone(self.owner)
        status, _, got = self.gw.get("/v1/files/%s" % fid)
        self.assertEqual(status, 200)
        self.assertEqual(got, data)
        wait_for("the download's receipts counted",
                 lambda: self.ozone(self.owner) == oz - size * NOZ_PER_BYTE, 30)
        e_end = self.gw.result("epoch", {})["epoch"]
        self.wait_reported(e_end)
        now = self.snapshot()
        credits, st, reports = self.walk(snap, now["last_epoch"])
        self.check_carried(st, now)

        # The volume is each holder's bytes × download_noz_per_byte.
        vol = {}
        for r in reports.values():
            for x in r["report"]["entries"]:
                i = self.node_index[x["node"]]
                self.assertEqual(x["wallet"], self.net.specs[i]["wallet"]["address"], r)
                vol[x["node"]] = vol.get(x["node"], 0) + int(x["volume"])
        self.assertEqual(vol, {n: b * NOZ_PER_BYTE for n, b in held.items()})
        traffic = [e for e, r in reports.items() if r["report"]["entries"]]
        self.assertTrue(all(int(reports[e]["mining_reward"]) > 0 for e in reports))
        self.assertTrue(all(int(reports[e]["traffic_reward"]) > 0 for e in traffic))

        # Each wallet's immature reward of each epoch the walk checked and
        # the last report read has not matured yet, to the wei.
        due = [e for e in credits if e + MATURE > now["last_epoch"]]
        self.assertIn(max(traffic), due)
        for w, r in now["rewards"].items():
            imm = {x["epoch"]: (int(x["amount"]), x["matures_with_epoch"])
                   for x in r["immature"] if x["epoch"] in due}
            want = {e: (credits[e][w], e + MATURE) for e in due if credits[e].get(w)}
            self.assertEqual(imm, want, (w, r))

        # After mature_epoch more reports: every resource wallet withdraws
        # all, the meta owner what had matured when it asked.
        self.wait_reported(max(traffic) + MATURE)
        for i in self.res:
            w = self.net.specs[i]["wallet"]["address"]
            earned = sum(c.get(w, 0) for c in credits.values())
            self.assertGreater(earned, 0)
            r = self.gw.result("traffic_rewards", {"address": w})
            self.assertEqual((int(r["immature_total"]), int(r["matured"])), (0, earned), r)
            before = self.balance(w)
            res = self.tx(i, "withdraw-traffic")
            self.assertEqual(self.balance(w), before + earned - int(res["tx_result"]["fee"]))
            r2 = self.gw.result("traffic_rewards", {"address": w})
            self.assertEqual((int(r2["matured"]), int(r2["withdrawn"])),
                             (0, int(r["withdrawn"]) + earned), r2)
            # Nothing is left to withdraw: the mempool refuses it (ST_EPERM)
            # and nothing changes, not even the balance.
            before = self.balance(w)
            for amount, log in ((["--amount", "1"], "amount 1 exceeds the matured traffic "
                                 "rewards (0)"),
                                ([], "there are no matured traffic rewards to withdraw")):
                res = self.tx(i, "withdraw-traffic", *amount, ok=False)
                self.assertEqual(res["check_tx"], {"code": -13, "log": log}, res)
                self.assertIsNone(res["tx_result"], res)
                self.assertEqual(self.balance(w), before)
                self.assertEqual(self.gw.result("traffic_rewards", {"address": w}), r2)
        r = self.gw.result("traffic_rewards", {"address": self.meta_owner})
        amount = int(r["matured"])
        self.assertGreaterEqual(amount, sum(credits[e].get(self.meta_owner, 0)
                                            for e in traffic))
        before = self.balance(self.meta_owner)
        res = self.tx(0, "withdraw-traffic", "--amount", str(amount),
                      key=self.net.key_path(0))
        self.assertEqual(self.balance(self.meta_owner),
                         before + amount - int(res["tx_result"]["fee"]))
        r2 = self.gw.result("traffic_rewards", {"address": self.meta_owner})
        self.assertEqual(int(r2["withdrawn"]), int(r["withdrawn"]) + amount, r2)

    # -- 3. conservation ---------------------------------------------------

    def test_3_conservation(self):
        for attempt in range(4):
            # A download within one epoch E (a report that pays R as well
            # as M); everything read while the last report is E - 1's, and
            # again once it is E's.
            fid, data, held = self.upload(SLICE, None)
            oz = self.ozone(self.owner)
            e0 = self.gw.result("epoch", {})["epoch"]
            status, _, got = self.gw.get("/v1/files/%s" % fid)
            self.assertEqual(got, data)
            e1 = self.gw.result("epoch", {})["epoch"]
            wait_for("the download's receipts counted",
                     lambda: self.ozone(self.owner) == oz - SLICE * NOZ_PER_BYTE, 30,
                     interval=0.1)
            if e0 != e1:
                continue
            wait_for("the report of epoch %d" % (e0 - 1),
                     lambda: (self.last_epoch() or 0) >= e0 - 1, 30, interval=0.05)
            before = self.snapshot()
            if before["last_epoch"] != e0 - 1:
                continue
            self.wait_reported(e0)
            after = self.snapshot()
            if after["last_epoch"] == e0:
                break
        else:
            self.fail("no download fit in one epoch with the reports around it read")
        self.assertEqual(before["pools"], ["bonded_pool", "community_pool", "distribution",
                                           "gov", "not_bonded_pool"])
        credits, st, reports = self.walk(before, after["last_epoch"])
        self.assertTrue(all(self.caps), "M is the foundation's balance by now")
        self.check_carried(st, after)
        # sds_pool holds the prepay pool, node_deposits every deposit (none
        # unbonds here): the derived addresses are the chain's.
        for snap in (before, after):
            self.assertEqual(snap["sds"], snap["Pt"])
            self.assertEqual(snap["balances"][self.modules["node_deposits"]], snap["S"])
        self.assertTrue(all(int(r["mining_reward"]) > 0 for r in reports.values()), reports)
        moved = {k: after["balances"][a] - before["balances"][a]
                 for k, a in self.modules.items()}
        self.assertEqual(moved["foundation"],
                         -sum(int(r["mining_reward"]) for r in reports.values()))
        self.assertEqual(moved["sds_pool"],
                         -sum(int(r["traffic_reward"]) for r in reports.values()))
        self.assertEqual(moved["traffic_rewards"],
                         sum(int(r["resource_share"]) + int(r["meta_share"])
                             for r in reports.values()))
        self.assertEqual(after["total"], before["total"],
                         "%d report(s) between heights %d and %d"
                         % (len(reports), before["height"], after["height"]))
        # traffic_rewards holds exactly every wallet's immature and matured rewards.
        self.assertEqual(after["balances"][self.modules["traffic_rewards"]],
                         sum(after["owed"].values()), after["owed"])
        if self.genesis_total is not None:
            self.assertEqual(after["total"], self.genesis_total)

    def test_4_reward_gauges(self):
        """The value chain's Prometheus gauges show what `foundation`
        answers (in STOS)."""
        def both():
            f = self.gw.result("foundation", {})
            fams = self.gw.metrics()
            g = {n: next(v for _, _, v in samples(fams, n)) for n in (
                "stratos_traffic_mined_stos", "stratos_traffic_foundation_stos",
                "stratos_traffic_rewards_held_stos", "stratos_traffic_last_epoch")}
            f2 = self.gw.result("foundation", {})
            return (f, g) if f == f2 else None
        f, g = wait_for("a foundation read between two equal answers", both, 30)
        self.assertAlmostEqual(g["stratos_traffic_mined_stos"], int(f["total_mined"]) / 1e18,
                               delta=1e-6)
        self.assertAlmostEqual(g["stratos_traffic_foundation_stos"], int(f["balance"]) / 1e18,
                               delta=1e-6)
        self.assertAlmostEqual(g["stratos_traffic_rewards_held_stos"],
                               int(f["traffic_rewards"]["balance"]) / 1e18, delta=1e-6)
        self.assertEqual(g["stratos_traffic_last_epoch"],
                         -1 if f["last_epoch"] is None else f["last_epoch"])


if __name__ == "__main__":
    unittest.main()
