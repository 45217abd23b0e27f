"""A localnet on 127.0.0.1 for the integration tests: `stratosd testnet`
writes the homes, this module shortens the genesis timeouts, starts the
nodes as real processes on their configured ports, and offers the few
queries the tests share (heights, block hashes, balances, txs)."""

import base64
import json
import os
import random
import socket
import time

import harness
from harness import Node

# Consensus timeouts short enough for tests, long enough for an ASan build
# on two busy cores.
FAST_CONSENSUS = {
    "timeout_propose_ms": 800, "timeout_propose_delta_ms": 200,
    "timeout_prevote_ms": 300, "timeout_prevote_delta_ms": 100,
    "timeout_precommit_ms": 300, "timeout_precommit_delta_ms": 100,
    "timeout_commit_ms": 100,
}


def _ports_free(base, count):
    for p in range(base, base + count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError):
        return 32768


def free_base_port(count):
    """A base port with count free ports above it, below the kernel's
    ephemeral range: ports there can be taken at any moment by outgoing
    connections, and a node restarted later must find its ports free."""
    top = min(_ephemeral_low(), 60000) - count
    for _ in range(200):
        base = random.randrange(10000, top)
        if _ports_free(base, count):
            return base
    raise AssertionError("no free port range of %d found" % count)


class Localnet:
    def __init__(self, owner, validators=4, accounts=0, consensus=None,
                 genesis_edit=None, full=0, meta=0, resource=0):
        self.owner = owner
        self.dir = os.path.join(harness.new_tmpdir(owner, "st-lnet-"), "net")
        n = validators + full + meta + resource
        self.base = free_base_port(3 * n)
        rc, out, err = harness.run(
            ["testnet", "--out", self.dir, "--validators", str(validators),
             "--full", str(full), "--meta", str(meta), "--resource", str(resource),
             "--accounts", str(accounts), "--base-port", str(self.base),
             "--chain-id", "itest-chain"], timeout=120)
        if rc != 0:
            raise AssertionError("testnet failed: %s" % err)
        with open(os.path.join(self.dir, "nodes.json")) as f:
            self.info = json.load(f)
        self.specs = self.info["nodes"]
        params = dict(FAST_CONSENSUS)
        params.update(consensus or {})
        with open(os.path.join(self.dir, "genesis.json")) as f:
            genesis = json.load(f)
        genesis["params"]["consensus"].update(params)
        if genesis_edit:
            genesis_edit(genesis)
        self.genesis = genesis
        for spec in self.specs:
            with open(os.path.join(spec["home"], "config", "genesis.json"), "w") as f:
                json.dump(genesis, f)
        self.nodes = [None] * n

    # -- processes ---------------------------------------------------------

    def start(self, i, extra=()):
        spec = self.specs[i]
        p = spec["ports"]
        args = ["--rpc.laddr=127.0.0.1:%d" % p["rpc"],
                "--gateway.laddr=127.0.0.1:%d" % p["gateway"],
                "--p2p.laddr=127.0.0.1:%d" % p["p2p"]] + list(extra)
        roles = ",".join(spec.get("roles") or ["value"])
        self.nodes[i] = Node(self.owner, spec["home"], roles=roles, extra=args)
        return self.nodes[i]

    def start_all(self, extra=()):
        for i in range(len(self.specs)):
            self.start(i, extra)

    def kill9(self, i):
        node = self.nodes[i]
        node.kill(9)
        node.wait()

    def running(self):
        return [n for n in self.nodes if n is not None and n.alive()]

    # -- queries -----------------------------------------------------------

    @staticmethod
    def height(node):
        info = node.result("status").get("sync_info") or {}
        return int(info.get("latest_block_height", 0))

    def wait_height(self, h, nodes=None, timeout=60.0):
        nodes = nodes or self.running()
        deadline = time.monotonic() + timeout
        while True:
            hs = [self.height(n) for n in nodes]
            if min(hs) >= h:
                return hs
            if time.monotonic() > deadline:
                raise AssertionError(
                    "height %d not reached within %.0f s: heights %s\n%s"
                    % (h, timeout, hs, "\n".join(n.describe() for n in nodes)))
            time.sleep(0.1)

    @staticmethod
    def block_hash(node, h):
        r = node.rpc("block", {"height": h})
        if "result" not in r:
            raise AssertionError("block %d: %r" % (h, r))
        return r["result"]["block_id"]["hash"]

    @staticmethod
    def account(node, address):
        return node.result("account", {"address": address})

    def key_path(self, k):
        return os.path.join(self.dir, "accounts", "acc%d.json" % k)

    def account_address(self, k):
        with open(self.key_path(k)) as f:
            return json.load(f)["address"]

    def gen_sends(self, key_path, to, count, nonce, amount="1000", node=0):
        """Signed Send txs of consecutive nonces, as base64 strings."""
        home = self.specs[node]["home"]
        rc, out, err = harness.run(
            ["tx", "send", "--home", home, "--key", key_path, "--to", to,
             "--amount", amount, "--nonce", str(nonce), "--count", str(count),
             "--generate-only"], timeout=120)
        if rc != 0:
            raise AssertionError("tx generation failed: %s" % err)
        txs = out.split()
        if len(txs) != count:
            raise AssertionError("asked %d txs, got %d" % (count, len(txs)))
        return txs

    @staticmethod
    def broadcast(node, txs, method="broadcast_tx_sync", chunk=100):
        """Sends txs in JSON-RPC batches; returns the per-tx results."""
        results = []
        for i in range(0, len(txs), chunk):
            batch = [{"jsonrpc": "2.0", "id": i + k, "method": method,
                      "params": {"tx": tx}} for k, tx in enumerate(txs[i:i + chunk])]
            status, _, body = node.rpc_raw(json.dumps(batch).encode())
            resp = harness.json_body(status, body)
            resp.sort(key=lambda r: r["id"])
            results.extend(resp)
        return results

    @staticmethod
    def tx_len(tx_b64):
        return len(base64.b64decode(tx_b64))
