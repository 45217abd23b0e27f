"""Consensus under faults, on localnets of real processes: crashes,
a halted network that resumes, restarts from the WAL, a double signer, and
a node that joins late and catches up by block sync."""

import random
import time
import unittest

from harness import NodeTestCase
from localnet import Localnet


def evidence_of(node):
    return node.result("evidence", {}).get("evidence", [])


class CrashTest(NodeTestCase):

    def test_kill_one_then_two_then_restart(self):
        net = Localnet(self, validators=4)
        net.start_all()
        net.wait_height(3)
        # One of four down: the other three still have +2/3.
        net.kill9(3)
        h = max(net.height(n) for n in net.running())
        net.wait_height(h + 3, nodes=net.nodes[:3])
        # Two of four down: no +2/3, no new height.
        net.kill9(2)
        time.sleep(1.0)  # let a height in flight finish
        stuck = [net.height(n) for n in net.nodes[:2]]
        time.sleep(4.0)
        self.assertEqual([net.height(n) for n in net.nodes[:2]], stuck,
                         "blocks were committed without +2/3 of the power")
        # Both back: the chain resumes, the two catch up, no fork.
        net.start(2)
        net.start(3)
        top = max(stuck) + 3
        net.wait_height(top, nodes=net.nodes, timeout=90)
        for h in range(1, top + 1):
            hashes = {net.block_hash(n, h) for n in net.nodes}
            self.assertEqual(len(hashes), 1, "fork at height %d: %s" % (h, hashes))
        for n in net.nodes:
            self.assertEqual(evidence_of(n), [])

    def test_random_kills_never_double_sign(self):
        rng = random.Random(7)
        net = Localnet(self, validators=4)
        net.start_all()
        net.wait_height(2)
        victim = 1
        for _ in range(8):
            time.sleep(rng.uniform(0.05, 1.2))
            net.kill9(victim)
            net.start(victim)
        h = max(net.height(n) for n in net.running())
        net.wait_height(h + 3, timeout=90)
        # A second, different vote from the victim for any height/round/step
        # would have been seen by the others as duplicate-vote evidence.
        for n in net.nodes:
            self.assertEqual(evidence_of(n), [], "the restarted node double-signed")
        top = min(net.height(n) for n in net.nodes)
        for hh in range(1, top + 1):
            self.assertEqual(len({net.block_hash(n, hh) for n in net.nodes}), 1)


class ByzantineTest(NodeTestCase):

    def test_double_prevote_becomes_evidence_in_a_block(self):
        net = Localnet(self, validators=4)
        for i in range(3):
            net.start(i)
        net.start(3, extra=["--debug.byzantine_double_prevote=true"])
        bad = net.specs[3]["node_id"]
        deadline = time.monotonic() + 60
        while True:
            ev = evidence_of(net.nodes[0])
            if ev:
                break
            if time.monotonic() > deadline:
                self.fail("no evidence committed within 60 s")
            time.sleep(0.5)
        self.assertIn(bad, [e["validator_address"] for e in ev], ev)
        h = ev[0]["committed_height"]
        block = net.nodes[1].result("block", {"height": h})
        self.assertTrue(block["block"]["evidence"], block)


class LateNodeTest(NodeTestCase):

    def test_late_node_catches_up_then_votes(self):
        # Fast blocks, so that a long history builds up in test time.
        net = Localnet(self, validators=4, consensus={"timeout_commit_ms": 1})
        for i in range(3):
            net.start(i)
        net.wait_height(150, nodes=net.nodes[:3], timeout=180)
        late = net.start(3)
        top = max(net.height(n) for n in net.nodes[:3])
        net.wait_height(top, nodes=[late], timeout=60)
        # Then it signs: its address appears among the commit signatures.
        addr = net.specs[3]["node_id"]
        deadline = time.monotonic() + 30
        while True:
            h = net.height(late)
            commit = net.nodes[0].result("commit", {"height": h - 1})
            signers = [s.get("validator_address") for s in
                       commit["signed_header"]["commit"]["signatures"]]
            if addr in signers:
                break
            if time.monotonic() > deadline:
                self.fail("the late node never signed a commit: %s" % signers)
            time.sleep(0.5)


if __name__ == "__main__":
    unittest.main()
