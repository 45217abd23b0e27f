"""Register and sds on a localnet of real processes: a meta node voted in by
the active meta nodes at active*2/3+1 approvals, a candidate voted down
whose deposit comes back after the unbonding time, prepays that buy
exactly the noz of the constant-product formula, zero and worthless
prepays refused, and votes from nodes that are no authority refused with a
clear log and no trace. Txs go through the real CLI, queries over
JSON-RPC."""

import unittest

import harness
from harness import NodeTestCase
from localnet import Localnet
from test_staking import Staking, _bytes, _str, encode_tx

STOS = 10 ** 18
DEPOSIT_NOZ_RATE = 10 ** 9          # wei of deposit per noz of ozone limit
INITIAL_OZONE = 7 * 10 ** 9         # noz before any deposit
GENESIS_META_DEPOSIT = 10 * STOS
UNBONDING_MS = 10000
MSG_PREPAY = 50                     # TxBody field of MsgPrepay


def register_genesis(g):
    """Short unbonding, a known ozone limit, and node0..node2 (their node
    keys, owned by their wallets, the validators' operators) as the active
    meta nodes."""
    g["params"]["register"] = {
        "resource_node_min_deposit": str(STOS),
        "meta_node_min_deposit": str(2 * STOS),
        "unbonding_time_ms": UNBONDING_MS,
        "deposit_noz_rate": str(DEPOSIT_NOZ_RATE),
    }
    g["params"]["sds"] = {"initial_ozone_limit": str(INITIAL_OZONE)}
    vals = {v["name"]: v for v in g["validators"]}
    g["meta_nodes"] = [
        {"pub_key": vals["node%d" % i]["pub_key"],
         "owner": vals["node%d" % i]["operator"],
         "deposit": str(GENESIS_META_DEPOSIT),
         "network_address": "127.0.0.1:%d" % (30000 + i),
         "moniker": "meta%d" % i}
        for i in range(3)]


def noz_for(pool, x):
    """What a prepay of x wei buys from the pool: floor(Lt*X/(S+Pt+X))."""
    s, pt, lt = (int(pool[k]) for k in ("total_deposit", "prepay_pool", "ozone_limit"))
    return lt * x // (s + pt + x)


class Register(Staking):
    """The Staking helpers plus the register and sds queries."""

    def meta(self, node, i=0):
        return self.q("meta_node", {"address": node}, i)

    def pool(self, i=0):
        return self.q("prepay_pool", None, i)

    def nonce(self, addr):
        return self.net.account(self.node(0), addr)["nonce"]

    def refused(self, i, args, want, key=None):
        """Runs a tx that the node must refuse in CheckTx; returns its log."""
        rc, res, err = self.tx(i, *args, key=key, ok=False)
        self.test.assertNotEqual(rc, 0, args)
        log = res["check_tx"]["log"] if res else err
        self.test.assertIn(want, log, args)
        return log


class RegisterTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.net = Localnet(cls, validators=4, accounts=3, genesis_edit=register_genesis)
        cls.net.start_all()
        cls.net.wait_height(2, timeout=60)

    def setUp(self):
        self.st = Register(self, self.net)

    def test_0_genesis_meta_nodes_and_pool(self):
        st, net = self.st, self.net
        metas = st.q("meta_nodes", {"status": "active"})
        self.assertEqual(metas["total"], 3)
        want = sorted((net.specs[i]["node_id"], net.specs[i]["pub_key"],
                       net.specs[i]["wallet"]["address"]) for i in range(3))
        self.assertEqual(sorted((m["address"], m["pub_key"], m["owner"])
                                for m in metas["meta_nodes"]), want)
        for m in metas["meta_nodes"]:
            self.assertEqual(m["deposit"], str(GENESIS_META_DEPOSIT))
        # The same answer on every node.
        for i in range(1, 4):
            self.assertEqual(st.q("meta_nodes", None, i)["total"], 3)

    def test_1_meta_node_approved_at_two_thirds_plus_one(self):
        st, net = self.st, self.net
        spec = net.specs[3]
        cand = spec["node_id"]
        owner = spec["wallet"]["address"]
        pool0 = st.pool()
        bal0 = st.balance(owner)
        deposit = 5 * STOS
        _, res, _ = st.tx(3, "create-meta-node", "--node-home", spec["home"],
                          "--deposit", "5stos", "--network-address", "127.0.0.1:30003",
                          "--moniker", "newmeta")
        fee = int(res["tx_result"]["fee"])
        self.assertEqual(st.balance(owner), bal0 - deposit - fee)
        m = st.meta(cand)
        self.assertEqual(m["status"], "pending")
        self.assertEqual(m["pub_key"], spec["pub_key"])
        self.assertEqual(m["owner"], owner)
        self.assertEqual(m["deposit"], str(deposit))
        self.assertEqual(m["votes"], {"yes": 0, "no": 0, "active": 3,
                                      "approve_at": 3, "reject_at": 1})
        # A candidate's deposit does not count until it is approved.
        self.assertEqual(st.pool(), pool0)
        # Three active: 3*2/3+1 = 3 approvals needed.
        for i in range(2):
            st.tx(i, "meta-vote", "--candidate", cand, "--voter", net.specs[i]["node_id"],
                  "--approve")
            self.assertEqual(st.meta(cand)["status"], "pending")
        self.assertEqual(st.meta(cand)["votes"]["yes"], 2)
        st.tx(2, "meta-vote", "--candidate", cand, "--voter", net.specs[2]["node_id"],
              "--approve")
        for i in range(4):
            m = st.meta(cand, i)
            self.assertEqual(m["status"], "active")
            self.assertNotIn("votes", m)
        self.assertEqual(st.q("meta_nodes", {"status": "active"})["total"], 4)
        # Now effective: S and Lt grow with the deposit.
        pool = st.pool()
        self.assertEqual(int(pool["total_deposit"]), int(pool0["total_deposit"]) + deposit)
        self.assertEqual(int(pool["ozone_limit"]),
                         int(pool0["ozone_limit"]) + deposit // DEPOSIT_NOZ_RATE)
        self.assertEqual(pool["prepay_pool"], pool0["prepay_pool"])

    def test_2_candidate_rejected_and_deposit_paid_back(self):
        st, net = self.st, self.net
        key = net.key_path(0)
        owner = net.account_address(0)
        cand_pk = "ab" * 32
        _, res, _ = st.tx(0, "create-meta-node", "--pubkey", cand_pk, "--deposit", "3stos",
                          "--network-address", "127.0.0.1:30010", "--moniker", "hopeful",
                          key=key)
        cand = [m for m in st.q("meta_nodes", {"status": "pending"})["meta_nodes"]
                if m["pub_key"] == cand_pk][0]["address"]
        bal = st.balance(owner)
        active = st.q("meta_nodes", {"status": "active"})["total"]
        # One rejection is max(1, active/3) when fewer than six are active.
        self.assertLess(active, 6)
        _, res, _ = st.tx(0, "meta-vote", "--candidate", cand,
                          "--voter", net.specs[0]["node_id"], "--reject")
        m = st.meta(cand)
        self.assertEqual(m["status"], "rejected")
        self.assertEqual(m["deposit"], "0")
        self.assertEqual([u["amount"] for u in m["unbonding"]], [str(3 * STOS)])
        self.assertEqual(m["unbonding"][0]["owner"], owner)
        # Paid back to the wei once a block's time reaches the completion.
        st.wait("the rejected deposit paid back",
                lambda: st.balance(owner) == bal + 3 * STOS, timeout=UNBONDING_MS / 1000 + 60)
        self.assertEqual(st.meta(cand)["unbonding"], [])
        for i in range(4):
            self.assertEqual(st.balance(owner, i), bal + 3 * STOS)

    def test_3_prepay_buys_the_formula(self):
        st, net = self.st, self.net
        payer = net.account_address(1)
        ben = net.account_address(2)
        x = 3 * STOS + 123456789
        pool0 = st.pool()
        want = noz_for(pool0, x)
        self.assertGreater(want, 0)
        price = st.q("ozone_price", {"amount": str(x)})
        self.assertEqual(price, {"amount": str(x), "noz": str(want),
                                 "price_wei_per_noz": dec_up(x, want)})
        # The default quote is for one STOS.
        self.assertEqual(st.q("ozone_price")["noz"], str(noz_for(pool0, STOS)))
        bal = st.balance(payer)
        _, res, _ = st.tx(1, "prepay", "--amount", str(x), "--beneficiary", ben,
                          key=net.key_path(1))
        fee = int(res["tx_result"]["fee"])
        self.assertEqual(st.balance(payer), bal - x - fee)
        pool1 = st.pool()
        self.assertEqual(int(pool1["prepay_pool"]), int(pool0["prepay_pool"]) + x)
        self.assertEqual(int(pool1["ozone_limit"]), int(pool0["ozone_limit"]) - want)
        self.assertEqual(pool1["total_deposit"], pool0["total_deposit"])
        # The same amount again buys fewer noz (the price went up), exactly
        # as the formula says; the beneficiary defaults to the sender.
        want2 = noz_for(pool1, x)
        self.assertLess(want2, want)
        st.tx(1, "prepay", "--amount", str(x), key=net.key_path(1))
        pool2 = st.pool()
        self.assertEqual(int(pool2["ozone_limit"]), int(pool1["ozone_limit"]) - want2)
        for i in range(4):
            self.assertEqual(st.pool(i), pool2)

    def test_4_zero_and_worthless_prepays_refused(self):
        st, net = self.st, self.net
        payer = net.account_address(1)
        before = net.account(net.nodes[0], payer)
        pool = st.pool()
        # The CLI will not build it.
        rc, out, err = harness.run(
            ["tx", "prepay", "--amount", "0", "--home", net.specs[0]["home"],
             "--key", net.key_path(1), "--rpc", net.specs[0]["rpc_url"]], timeout=60)
        self.assertEqual(rc, 2)
        self.assertIn("bad --amount 0", err)
        # Hand-encoded, the node refuses it before the signature.
        zero = encode_tx(net.genesis["chain_id"], before["nonce"], "1000000000000",
                         field=MSG_PREPAY, msg=_bytes(1, bytes(20)) + _str(2, "0"))
        r = net.nodes[0].result("broadcast_tx_sync", {"tx": zero})
        self.assertNotEqual(r["code"], 0)
        self.assertIn("amount must be greater than zero", r["log"])
        # One wei buys no noz at this price.
        self.assertEqual(noz_for(pool, 1), 0)
        st.refused(0, ["prepay", "--amount", "1"],
                   "the prepay buys no ozone at the current price", key=net.key_path(1))
        self.assertEqual(net.account(net.nodes[0], payer), before)
        self.assertEqual(st.pool(), pool)

    def test_5_votes_from_non_authorities_refused(self):
        st, net = self.st, self.net
        outsider = net.account_address(2)
        key = net.key_path(2)
        cand_pk = "cd" * 32
        st.tx(0, "create-meta-node", "--pubkey", cand_pk, "--deposit", "2stos",
              "--network-address", "127.0.0.1:30011", "--moniker", "second", key=key)
        cand = [m for m in st.q("meta_nodes", {"status": "pending"})["meta_nodes"]
                if m["pub_key"] == cand_pk][0]["address"]
        before = st.meta(cand)
        nonce = st.nonce(outsider)
        voter0 = net.specs[0]["node_id"]
        # An active meta node's vote sent by someone who does not own it.
        st.refused(0, ["meta-vote", "--candidate", cand, "--voter", voter0, "--approve"],
                   "not the owner of meta node %s" % voter0, key=key)
        # A pending node is no authority, not even for itself.
        st.refused(0, ["meta-vote", "--candidate", cand, "--voter", cand, "--approve"],
                   "voter %s is not an active meta node (it is pending)" % cand, key=key)
        st.refused(0, ["kick-meta", "--target", voter0, "--voter", cand, "--kick"],
                   "voter %s is not an active meta node" % cand, key=key)
        # A second vote of the same authority.
        st.tx(0, "meta-vote", "--candidate", cand, "--voter", voter0, "--approve")
        st.refused(0, ["meta-vote", "--candidate", cand, "--voter", voter0, "--reject"],
                   "already voted")
        # Nothing changed but the one good vote.
        self.assertEqual(st.nonce(outsider), nonce)
        after = st.meta(cand)
        self.assertEqual(after["status"], "pending")
        self.assertEqual(after["votes"]["yes"], before["votes"]["yes"] + 1)
        self.assertEqual(after["votes"]["no"], 0)


def dec_up(x, noz):
    """x / noz rounded up to 18 decimals, as ozone_price prints it."""
    scaled = -(-x * 10 ** 18 // noz)
    return "%d.%018d" % (scaled // 10 ** 18, scaled % 10 ** 18)


if __name__ == "__main__":
    unittest.main()
