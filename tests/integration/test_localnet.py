"""The value chain on a 4-validator localnet of real processes: transfers
committed exactly once with the same state and blocks everywhere, and
refusals of bad txs that change nothing."""

import base64
import json
import os
import socket
import time
import unittest

import harness
from harness import NodeTestCase
from localnet import Localnet

AMOUNT = 1000
PER_ACCOUNT = 100
ACCOUNTS = 10


class TransfersTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.net = Localnet(cls, validators=4, accounts=ACCOUNTS + 1)
        cls.net.start_all()
        cls.net.wait_height(2, timeout=60)

    def test_1000_transfers_committed_once_everywhere(self):
        net = self.net
        nodes = net.nodes
        min_fee = int(net.genesis["params"]["auth"]["min_fee_per_byte"])
        recipient = net.account_address(ACCOUNTS)  # starts with a known balance
        start = {a: net.account(nodes[0], net.account_address(a))
                 for a in range(ACCOUNTS + 1)}
        txs_by_account = {}
        for a in range(ACCOUNTS):
            txs_by_account[a] = net.gen_sends(net.key_path(a), recipient, PER_ACCOUNT,
                                              nonce=0, amount=str(AMOUNT))
        # Each account's txs go to one node; a few go to a second node too,
        # which must not make them count twice.
        for a, txs in txs_by_account.items():
            res = net.broadcast(nodes[a % 4], txs)
            for r in res:
                self.assertEqual(r["result"]["code"], 0, r)
            dup = net.broadcast(nodes[(a + 1) % 4], txs[:5])
            for r in dup:
                self.assertIn("result", r, r)
        # Wait until every sender's nonce is PER_ACCOUNT on every node.
        deadline = time.monotonic() + 180
        while True:
            done = all(net.account(n, net.account_address(a))["nonce"] == PER_ACCOUNT
                       for n in nodes for a in range(ACCOUNTS))
            if done:
                break
            if time.monotonic() > deadline:
                self.fail("not all transfers committed: %s" % [
                    [net.account(n, net.account_address(a))["nonce"]
                     for a in range(ACCOUNTS)] for n in nodes])
            time.sleep(0.5)
        # Balances to the wei, on every node.
        for a in range(ACCOUNTS):
            fees = sum(min_fee * net.tx_len(tx) for tx in txs_by_account[a])
            want = int(start[a]["balance"]) - PER_ACCOUNT * AMOUNT - fees
            for n in nodes:
                acct = net.account(n, net.account_address(a))
                self.assertEqual(int(acct["balance"]), want, (a, acct))
        want_r = int(start[ACCOUNTS]["balance"]) + ACCOUNTS * PER_ACCOUNT * AMOUNT
        for n in nodes:
            self.assertEqual(int(net.account(n, recipient)["balance"]), want_r)
        # Every tx is in exactly one block, the same one on every node.
        sample = [txs_by_account[a][k] for a in range(ACCOUNTS) for k in (0, 50, 99)]
        for tx in sample:
            seen = set()
            for n in nodes:
                r = n.result("broadcast_tx_sync", {"tx": tx})
                self.assertNotEqual(r["code"], 0, "a committed tx was accepted again")
                info = n.result("tx", {"hash": r["hash"]})
                self.assertEqual(info["tx_result"]["code"], 0)
                seen.add((info["height"], info["index"]))
            self.assertEqual(len(seen), 1, seen)
        # The same block hash at every height on every node.
        top = min(net.height(n) for n in nodes)
        for h in range(1, top + 1):
            hs = {net.block_hash(n, h) for n in nodes}
            self.assertEqual(len(hs), 1, "height %d: %s" % (h, hs))


class BadTxTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.net = Localnet(cls, validators=1, accounts=2)
        cls.net.start_all()
        cls.net.wait_height(1, timeout=60)
        cls.node = cls.net.nodes[0]
        cls.to = cls.net.account_address(1)

    def sender(self):
        return self.net.account(self.node, self.net.account_address(0))

    def refused(self, tx, words):
        before = self.sender()
        r = self.node.result("broadcast_tx_sync", {"tx": tx})
        self.assertNotEqual(r["code"], 0, r)
        self.assertTrue(any(w in r["log"].lower() for w in words), r)
        time.sleep(0.3)
        self.assertEqual(self.sender(), before)
        self.assertHealthy(self.node)
        return r

    def good_tx(self, nonce=None, **kw):
        n = self.sender()["nonce"] if nonce is None else nonce
        return self.net.gen_sends(self.net.key_path(0), self.to, 1, n, **kw)[0]

    def test_bad_signature(self):
        raw = bytearray(base64.b64decode(self.good_tx()))
        raw[-1] ^= 1
        self.refused(base64.b64encode(raw).decode(), ["signature"])

    def test_truncated(self):
        raw = base64.b64decode(self.good_tx())
        self.refused(base64.b64encode(raw[:len(raw) // 2]).decode(),
                     ["decode", "malformed", "truncated", "protobuf"])

    def test_oversized(self):
        big = base64.b64encode(os.urandom(70000)).decode()
        r = self.node.rpc("broadcast_tx_sync", {"tx": big})
        text = json.dumps(r).lower()
        self.assertTrue("too large" in text or "size" in text, r)
        self.assertHealthy(self.node)

    def test_future_and_replayed_nonce(self):
        n = self.sender()["nonce"]
        self.refused(self.good_tx(nonce=n + 1000), ["nonce"])
        tx = self.good_tx(nonce=n)
        r = self.node.result("broadcast_tx_commit", {"tx": tx})
        self.assertEqual(r["tx_result"]["code"], 0, r)
        self.refused(tx, ["nonce", "already"])

    def test_fee_too_low(self):
        n = self.sender()["nonce"]
        home = self.net.specs[0]["home"]
        rc, out, err = harness.run(
            ["tx", "send", "--home", home, "--key", self.net.key_path(0), "--to", self.to,
             "--amount", "5", "--fee", "1", "--nonce", str(n), "--generate-only"])
        self.assertEqual(rc, 0, err)
        self.refused(out.strip(), ["fee"])

    def test_wrong_chain_id(self):
        other = harness.new_tmpdir(self)
        os.makedirs(os.path.join(other, "config"))
        g = dict(self.net.genesis)
        g["chain_id"] = "some-other-chain"
        with open(os.path.join(other, "config", "genesis.json"), "w") as f:
            json.dump(g, f)
        rc, out, err = harness.run(
            ["tx", "send", "--home", other, "--key", self.net.key_path(0), "--to", self.to,
             "--amount", "5", "--nonce", "0", "--generate-only"])
        self.assertEqual(rc, 0, err)
        self.refused(out.strip(), ["chain"])

    def test_insufficient_balance(self):
        self.refused(self.good_tx(amount="1000000000000000000000000000000"),
                     ["balance", "insufficient", "funds"])

    def test_p2p_garbage(self):
        port = self.net.specs[0]["ports"]["p2p"]
        before = self.node.result("status")["sync_info"]["latest_block_height"]
        for payload in (b"GET / HTTP/1.1\r\n\r\n", b"STN1" + b"\x00" * 10,
                        b"STN1" + os.urandom(32) + b"\xff\xff\xff\xff" + os.urandom(64),
                        os.urandom(5000)):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            try:
                s.sendall(payload)
                s.settimeout(5)
                # The node closes the connection rather than wait forever.
                while s.recv(4096):
                    pass
            except OSError:
                pass
            finally:
                s.close()
        self.assertHealthy(self.node)
        info = self.node.result("net_info")
        self.assertEqual(info["n_peers"], 0)
        self.net.wait_height(before + 2)

    def test_cli_send_and_query(self):
        home = self.net.specs[0]["home"]
        before = self.net.account(self.node, self.to)
        rc, out, err = harness.run(
            ["tx", "send", "--home", home, "--from", "wallet", "--to", self.to,
             "--amount", "1.5stos", "--rpc", self.node.rpc_url], timeout=60)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("tx hash:", out)
        after = self.net.account(self.node, self.to)
        self.assertEqual(int(after["balance"]) - int(before["balance"]), 1500000000000000000)
        rc, out, err = harness.run(["query", "account", self.to, "--rpc", self.node.rpc_url])
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["balance"], after["balance"])


if __name__ == "__main__":
    unittest.main()
