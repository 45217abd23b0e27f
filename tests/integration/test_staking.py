"""Proof of stake on localnets of real processes: validators that join and
leave by stake, downtime and double-sign slashing to the wei, rewards that
match a hand computation, governance that changes a parameter, and bad
staking messages refused without a trace."""

import json
import time
import unittest

import harness
from harness import NodeTestCase
from localnet import Localnet

STOS = 10 ** 18
DEC = 10 ** 18


def dec(s):
    """A decimal fraction string ("0.01") as an integer scaled by 10^18."""
    whole, _, frac = s.partition(".")
    return int(whole) * DEC + int((frac + "0" * 18)[:18])


def econ(g, **over):
    """Test parameters: seconds instead of days, small windows."""
    p = g["params"]
    p["staking"].update({"unbonding_time_ms": 120000, "max_validators": 4})
    p["slashing"].update({"signed_blocks_window": 20, "min_signed_per_window": "0.5",
                          "downtime_jail_duration_ms": 15000,
                          "slash_fraction_downtime": "0.01",
                          "slash_fraction_double_sign": "0.05"})
    p["gov"].update({"min_deposit": str(10 * STOS), "max_deposit_period_ms": 30000,
                     "voting_period_ms": 8000})
    for section, values in over.items():
        p[section].update(values)


class Staking:
    """Txs through the real CLI and queries over JSON-RPC."""

    def __init__(self, test, net):
        self.test = test
        self.net = net

    def node(self, i=0):
        return self.net.nodes[i]

    def wallet(self, i):
        return self.net.specs[i]["wallet"]["address"]

    def tx(self, i, *args, key=None, ok=True, mode="commit", via=None):
        """Runs `stratosd tx ARGS` against node i (or node via), signed by
        node i's wallet (or a key file); returns the parsed result."""
        spec = self.net.specs[i]
        rpc = self.net.specs[i if via is None else via]["rpc_url"]
        signer = ["--key", key] if key else ["--from", "wallet"]
        rc, out, err = harness.run(
            ["tx"] + list(args) + ["--home", spec["home"], "--mode", mode,
                                   "--rpc", rpc] + signer, timeout=120)
        body = out[out.find("{"):] if "{" in out else ""
        res = json.loads(body) if body else None
        if ok:
            if rc != 0 or not res:
                raise AssertionError("tx %s failed rc=%d\n%s\n%s" % (args, rc, out, err))
            if mode == "commit":
                self.test.assertEqual(res["tx_result"]["code"], 0, res)
        return rc, res, err

    def q(self, method, params=None, i=0):
        return self.node(i).result(method, params or {})

    def validator(self, op, i=0):
        return self.q("validator", {"address": op}, i)

    def balance(self, addr, i=0):
        return int(self.net.account(self.node(i), addr)["balance"])

    def wait(self, what, cond, timeout=90):
        deadline = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s" % what)
            time.sleep(0.3)

    def signers(self, h, i=0):
        commit = self.q("commit", {"height": h}, i)
        return [s.get("validator_address") for s in
                commit["signed_header"]["commit"]["signatures"]]

    def set_at(self, h, i=0):
        r = self.q("validator_set", {"height": h, "per_page": 100}, i)
        return {v["address"]: v["voting_power"] for v in r["validators"]}


class JoinLeaveTest(NodeTestCase):

    def test_new_validator_joins_by_stake_and_leaves_by_unstaking(self):
        net = Localnet(self, validators=4, full=1, accounts=1, genesis_edit=econ)
        net.start_all()
        net.wait_height(2, timeout=60)
        st = Staking(self, net)
        newbie = net.specs[4]
        op = newbie["wallet"]["address"]
        # The full node's operator creates a validator with its node key.
        _, res, _ = st.tx(4, "create-validator", "--pubkey", newbie["pub_key"],
                          "--moniker", "newbie", "--amount", "11stos",
                          "--commission-rate", "0.05", "--max-rate", "0.5",
                          "--max-change-rate", "0.05", "--min-self-delegation", "1stos")
        created = res["height"]
        # A delegation on top.
        acc0 = net.account_address(0)
        st.tx(4, "stake", "--validator", op, "--amount", "5stos", key=net.key_path(0))
        v = st.validator(op)
        self.assertEqual(v["status"], "bonded")
        self.assertEqual(v["tokens"], str(16 * STOS))
        self.assertEqual(v["delegator_shares"], str(16 * STOS))
        self.assertEqual(v["power"], 16)
        self.assertEqual(v["self_delegation"], str(11 * STOS))
        dels = st.q("delegations", {"validator": op})["delegations"]
        self.assertEqual(sorted((d["delegator"], d["balance"]) for d in dels),
                         sorted([(op, str(11 * STOS)), (acc0, str(5 * STOS))]))
        # It entered the engine's set two heights after the block that
        # bonded it, replacing one of the four (max_validators = 4).
        node_id = newbie["node_id"]
        net.wait_height(created + 1)
        self.assertIn(node_id, st.set_at(created + 2))
        self.assertNotIn(node_id, st.set_at(created + 1))
        vals = st.q("validators")["validators"]
        self.assertEqual(sorted(x["status"] for x in vals),
                         ["bonded"] * 4 + ["unbonding"])
        # And it signs blocks.
        st.wait("a commit signed by the new validator",
                lambda: node_id in st.signers(net.height(net.nodes[0]) - 1))
        # Unstaking below the other validators' power removes it.
        st.tx(4, "unstake", "--validator", op, "--amount", "5stos", key=net.key_path(0))
        _, res, _ = st.tx(4, "unstake", "--validator", op, "--amount", "2stos")
        left = res["height"]
        v = st.validator(op)
        self.assertEqual(v["power"], 9)
        self.assertEqual(v["status"], "unbonding")
        net.wait_height(left + 1)
        self.assertNotIn(node_id, st.set_at(left + 2))
        self.assertEqual(len(st.set_at(left + 2)), 4)
        self.assertEqual(sorted(x["status"] for x in st.q("validators")["validators"]),
                         ["bonded"] * 4 + ["unbonding"])
        # The unstaked tokens wait out the unbonding period.
        ubd = st.q("unbonding", {"delegator": op})["entries"]
        self.assertEqual([e["balance"] for e in ubd], [str(2 * STOS)])
        net.wait_height(left + 3)
        h = net.height(net.nodes[0])
        self.assertNotIn(node_id, st.signers(h))


class DowntimeTest(NodeTestCase):

    def test_offline_validator_is_jailed_slashed_then_unjails(self):
        net = Localnet(self, validators=4, accounts=1, genesis_edit=econ)
        net.start_all()
        net.wait_height(2, timeout=60)
        st = Staking(self, net)
        op = st.wallet(3)
        acc0 = net.account_address(0)
        st.tx(0, "stake", "--validator", op, "--amount", "1stos", key=net.key_path(0))
        v = st.validator(op)
        self.assertEqual(v["power"], 11)
        pools0 = st.q("pools")
        net.kill9(3)
        # 11 of 41 power offline: the chain goes on, and once the window
        # (20 blocks, at most 10 missed) is over the validator is jailed.
        v = st.wait("the offline validator jailed",
                    lambda: (lambda x: x if x["jailed"] else None)(st.validator(op)),
                    timeout=180)
        # Slashed 1% of power 11 exactly: 0.11 STOS, from the tokens only.
        self.assertEqual(int(v["tokens"]), 11 * STOS - 11 * dec("0.01"))
        self.assertEqual(v["delegator_shares"], str(11 * STOS))
        self.assertEqual(v["signing_info"]["missed_blocks"], 0)  # window starts over
        dels = {d["delegator"]: int(d["balance"])
                for d in st.q("delegations", {"validator": op})["delegations"]}
        tokens = int(v["tokens"])
        self.assertEqual(dels[acc0], STOS * tokens // (11 * STOS))
        self.assertEqual(dels[op], 10 * STOS * tokens // (11 * STOS))
        # It left the bonded set: its tokens moved to the not-bonded pool and
        # the slashed wei were burnt.
        st.wait("the jailed validator unbonding",
                lambda: st.validator(op)["status"] == "unbonding")
        pools = st.q("pools")
        self.assertEqual(int(pools["not_bonded_pool"]["balance"]),
                         int(pools0["not_bonded_pool"]["balance"]) + tokens)
        self.assertEqual(int(pools["bonded_pool"]["balance"]),
                         int(pools0["bonded_pool"]["balance"]) - 11 * STOS)
        # Back online, but still jailed: unjail is refused until the jail
        # time has passed, then accepted.
        net.start(3)
        until = v["signing_info"]["jailed_until_ms"]
        # Sent through node 0, which has applied the jailing; the restarted
        # node 3 may still be catching up to it.
        rc, res, _ = st.tx(3, "unjail", ok=False, via=0)
        self.assertNotEqual(rc, 0, "unjailed before the jail time was over")
        self.assertIn("is jailed until", res["check_tx"]["log"])
        st.wait("the jail time over", lambda: time.time() * 1000 > until + 3000)
        st.wait("unjail accepted", lambda: st.tx(3, "unjail", ok=False, via=0)[0] == 0,
                timeout=60)
        v = st.wait("the validator bonded again",
                    lambda: (lambda x: x if x["status"] == "bonded" else None)(
                        st.validator(op)))
        self.assertFalse(v["jailed"])
        node_id = net.specs[3]["node_id"]
        st.wait("a commit signed by the unjailed validator",
                lambda: node_id in st.signers(net.height(net.nodes[0]) - 1))


class DoubleSignTest(NodeTestCase):

    def test_double_signer_slashed_tombstoned_with_later_unbondings(self):
        net = Localnet(self, validators=4, accounts=2, genesis_edit=econ)
        net.start_all()
        net.wait_height(2, timeout=60)
        st = Staking(self, net)
        op = st.wallet(3)
        a, b = net.key_path(0), net.key_path(1)
        addr_a, addr_b = net.account_address(0), net.account_address(1)
        st.tx(0, "stake", "--validator", op, "--amount", "1stos", key=a)
        st.tx(0, "stake", "--validator", op, "--amount", "1stos", key=b)
        # A unbonds before the infraction.
        st.tx(0, "unstake", "--validator", op, "--amount", "0.5stos", key=a)
        # The validator turns Byzantine from a height still ahead.
        bad_from = net.height(net.nodes[0]) + 12
        net.kill9(3)
        net.start(3, extra=["--debug.byzantine_double_prevote=true",
                            "--debug.byzantine_from_height=%d" % bad_from])
        # B unbonds once the block before that height is committed: its
        # entry starts at or after the infraction.
        net.wait_height(bad_from - 1, nodes=net.nodes[:3], timeout=120)
        st.tx(0, "unstake", "--validator", op, "--amount", "0.5stos", key=b, mode="sync")
        v = st.wait("the double signer tombstoned",
                    lambda: (lambda x: x if x["tombstoned"] else None)(st.validator(op)),
                    timeout=120)
        self.assertTrue(v["jailed"])
        ev = [e for e in st.q("evidence")["evidence"]
              if e["validator_address"] == net.specs[3]["node_id"]]
        self.assertTrue(ev)
        infraction = min(e["height"] for e in ev)
        self.assertGreaterEqual(infraction, bad_from)
        power = [e["power"] for e in ev if e["height"] == infraction][0]
        self.assertEqual(power, 11)
        entries = {e["delegator"]: e for e in st.q("unbonding", {"validator": op})["entries"]}
        ea, eb = entries[addr_a], entries[addr_b]
        self.assertLess(ea["creation_height"], infraction)
        self.assertGreaterEqual(eb["creation_height"], infraction,
                                "B's unbonding landed before the infraction")
        frac = dec("0.05")
        # Before: untouched. After: slashed by the fraction of its start.
        self.assertEqual(int(ea["balance"]), STOS // 2)
        cut_b = (STOS // 2) * frac // DEC
        self.assertEqual(int(eb["balance"]), STOS // 2 - cut_b)
        # The validator pays the rest of power * fraction.
        self.assertEqual(int(v["tokens"]), 11 * STOS - (power * frac - cut_b))
        # Tombstoned for good.
        rc, res, _ = st.tx(3, "unjail", ok=False, via=0)
        self.assertNotEqual(rc, 0)
        self.assertIn("tombstoned", res["check_tx"]["log"])


class EconomyTest(NodeTestCase):
    """Rewards, governance and refusals on one localnet."""

    @classmethod
    def setUpClass(cls):
        cls.net = Localnet(cls, validators=4, accounts=3, genesis_edit=econ)
        cls.net.start_all()
        cls.net.wait_height(2, timeout=60)

    def test_1_rewards_match_hand_computation_on_every_node(self):
        net = self.net
        st = Staking(self, net)
        op = st.wallet(0)
        deleg = net.account_address(1)
        params = st.q("params")
        tax = dec(params["distribution"]["community_tax"])
        rate = dec(st.validator(op)["commission"]["rate"])
        _, res, _ = st.tx(0, "stake", "--validator", op, "--amount", "10stos",
                          key=net.key_path(1))
        h1 = res["height"]
        # Known fees in the next blocks: transfers from another account.
        txs = net.gen_sends(net.key_path(2), deleg, 30, nonce=0, amount="1")
        for r in net.broadcast(net.nodes[1], txs):
            self.assertEqual(r["result"]["code"], 0, r)
        st.wait("the transfers committed",
                lambda: net.account(net.nodes[0], net.account_address(2))["nonce"] == 30)
        before = st.balance(deleg)
        _, res, _ = st.tx(0, "withdraw-rewards", "--validator", op, key=net.key_path(1))
        h3 = res["height"]
        fee_w = int(res["tx_result"]["fee"])
        paid = st.balance(deleg) - before + fee_w
        # By hand: for each block from the delegation to the one before the
        # withdrawal, the block's fees less the community tax go to the
        # bonded validators by power (the set of the next height), the
        # operator keeps its commission, and the rest accrues per token.
        node_id = net.specs[0]["node_id"]
        acc = 0
        for b in range(h1, h3):
            fees = sum(int(r["fee"]) for r in
                       st.q("block_results", {"height": b})["txs_results"] or []
                       if r["code"] == 0)
            rest = fees - fees * tax // DEC
            powers = st.set_at(b + 1)
            share = rest * powers[node_id] // sum(powers.values())
            acc += share - share * rate // DEC
        tokens = 20 * STOS
        ratio = acc * DEC // tokens
        want = 10 * STOS * ratio // DEC
        self.assertGreater(want, 0)
        self.assertEqual(paid, want)
        # The same on every node; and its outstanding rewards start over.
        for i in range(4):
            self.assertEqual(st.balance(deleg, i), st.balance(deleg, 0))
            r = st.q("rewards", {"delegator": deleg}, i)
            self.assertEqual(st.q("rewards", {"delegator": deleg}, 0), r)
        # The commission, by hand over every block so far.
        h = net.height(net.nodes[0])
        comm = 0
        for b in range(1, h + 1):
            fees = sum(int(r["fee"]) for r in
                       st.q("block_results", {"height": b})["txs_results"] or []
                       if r["code"] == 0)
            rest = fees - fees * tax // DEC
            powers = st.set_at(b + 1)
            share = rest * powers[node_id] // sum(powers.values())
            comm += share * rate // DEC
        for i in range(4):
            self.assertEqual(int(st.validator(op, i)["commission_accrued"]), comm)

    def test_2_governance_raises_the_minimum_fee(self):
        net = self.net
        st = Staking(self, net)
        old = int(st.q("params")["auth"]["min_fee_per_byte"])
        new = 2 * old
        _, res, _ = st.tx(0, "gov", "submit", "--title", "Double the fee",
                          "--description", "min_fee_per_byte x2",
                          "--change", 'auth.min_fee_per_byte="%d"' % new,
                          "--deposit", "10stos")
        props = st.q("proposals")["proposals"]
        pid = max(p["id"] for p in props)
        self.assertEqual(st.q("proposal", {"id": pid})["status"], "voting")
        for i in range(4):
            st.tx(i, "gov", "vote", "--proposal", str(pid), "--option", "yes")
        p = st.wait("the proposal decided",
                    lambda: (lambda x: x if x["status"] != "voting" else None)(
                        st.q("proposal", {"id": pid})), timeout=60)
        self.assertEqual(p["status"], "passed", p)
        self.assertEqual(int(st.q("params")["auth"]["min_fee_per_byte"]), new)
        # A tx paying the old minimum (signed offline against genesis) is
        # refused; one paying the new minimum is accepted.
        acct = net.account(net.nodes[0], net.account_address(0))
        old_tx = net.gen_sends(net.key_path(0), st.wallet(1), 1, nonce=acct["nonce"])[0]
        r = net.nodes[0].result("broadcast_tx_sync", {"tx": old_tx})
        self.assertNotEqual(r["code"], 0)
        self.assertIn("below minimum", r["log"])
        st.tx(0, "send", "--to", st.wallet(1), "--amount", "1", key=net.key_path(0))

    def test_3_bad_messages_refused_and_change_nothing(self):
        net = self.net
        st = Staking(self, net)
        me = net.account_address(0)
        op = st.wallet(1)
        before = net.account(net.nodes[0], me)
        dels_before = st.q("delegations", {"delegator": me})
        cases = [
            (["create-validator", "--pubkey", "ab" * 32, "--moniker", "greedy",
              "--amount", "2stos", "--commission-rate", "0.5", "--max-rate", "0.2"],
             "commission_rate exceeds max_rate"),
            (["stake", "--validator", net.account_address(2), "--amount", "1stos"],
             "unknown validator"),
            (["stake", "--validator", op, "--amount", "999999999999stos"],
             "insufficient balance"),
            (["unstake", "--validator", op, "--amount", "1stos"],
             "no delegation"),
            (["redelegate", "--src", op, "--dst", op, "--amount", "1stos"],
             "same validator"),
            (["unjail"], "unknown validator"),
        ]
        for args, want in cases:
            rc, res, err = st.tx(0, *args, key=net.key_path(0), ok=False)
            self.assertNotEqual(rc, 0, args)
            log = res["check_tx"]["log"] if res else err
            self.assertIn(want, log, args)
        # Unbonding more than delegated.
        st.tx(0, "stake", "--validator", op, "--amount", "1stos", key=net.key_path(0))
        rc, res, _ = st.tx(0, "unstake", "--validator", op, "--amount", "2stos",
                           key=net.key_path(0), ok=False)
        self.assertIn("the delegation is worth %d" % STOS, res["check_tx"]["log"])
        # The commission changes at most once a day.
        rc, res, _ = st.tx(1, "edit-validator", "--commission-rate", "0.11", ok=False)
        self.assertIn("once per 24 hours", res["check_tx"]["log"])
        # A zero amount, hand-encoded (the CLI refuses to build it): the node
        # refuses it before looking at the signature.
        zero = encode_tx(net.genesis["chain_id"], 0, "1000000000000",
                         field=22, msg=_bytes(1, bytes(20)) + _str(2, "0"))
        r = net.nodes[0].result("broadcast_tx_sync", {"tx": zero})
        self.assertNotEqual(r["code"], 0)
        self.assertIn("amount must be greater than zero", r["log"])
        # Nothing changed but the one good stake.
        after = net.account(net.nodes[0], me)
        self.assertEqual(after["nonce"], before["nonce"] + 1)
        dels = st.q("delegations", {"delegator": me})
        self.assertEqual(dels["total"], dels_before["total"] + 1)


# ---- a minimal protobuf encoder for hand-made txs ----

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


def _str(field, s):
    return _bytes(field, s.encode())


def encode_tx(chain_id, nonce, fee, field, msg):
    import base64
    body = _str(1, chain_id)
    if nonce:
        body += _varint(2 << 3) + _varint(nonce)
    body += _str(3, fee) + _bytes(field, msg)
    tx = _bytes(1, body) + _bytes(2, bytes(32)) + _bytes(3, bytes(64))
    return base64.b64encode(tx).decode()


if __name__ == "__main__":
    unittest.main()
