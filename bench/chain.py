#!/usr/bin/env python3
"""bench/chain: committed transfer txs per second and commit latency
(p50/p99) on a one-validator network and on a 4-validator localnet, beside
the ed25519 verification ceiling measured in the same run:

    ceiling = verifications/s per core * cores / nodes on the machine

(every node checks every tx's signature once). Prints figures and, last,
RATIO lines. Usage: bench/chain.py BUILD_DIR [--txs N] [--accounts K]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from wsclient import WsClient  # noqa: E402


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def rpc(port, method, params=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": params or {}})
    c.request("POST", "/", body, {"Content-Type": "application/json"})
    r = json.loads(c.getresponse().read())
    c.close()
    return r.get("result")


def start_net(binary, validators, accounts, tmp):
    out = os.path.join(tmp, "net%d" % validators)
    base = 31000 + validators * 100
    run([binary, "testnet", "--out", out, "--validators", str(validators),
         "--accounts", str(accounts), "--base-port", str(base)])
    info = json.load(open(os.path.join(out, "nodes.json")))
    procs = []
    for n in info["nodes"]:
        log = open(os.path.join(n["home"], "bench.log"), "w")
        procs.append(subprocess.Popen([binary, "start", "--home", n["home"],
                                       "--role=value"], stdout=log, stderr=log))
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            h = rpc(info["nodes"][0]["ports"]["rpc"], "status")["sync_info"]
            if h and h["latest_block_height"] >= 2:
                break
        except (OSError, TypeError, KeyError):
            pass
        time.sleep(0.2)
    return out, info, procs


def gen_txs(binary, out, info, accounts, per_account):
    home = info["nodes"][0]["home"]
    to = info["nodes"][0]["wallet"]["address"]
    txs = []
    for a in range(accounts):
        key = os.path.join(out, "accounts", "acc%d.json" % a)
        o = run([binary, "tx", "send", "--home", home, "--key", key, "--to", to,
                 "--amount", "1", "--nonce", "0", "--count", str(per_account),
                 "--generate-only"])
        txs.append(o.split())
    # Interleave accounts so that nonces arrive in order per sender.
    flat = []
    for k in range(per_account):
        for a in range(accounts):
            flat.append(txs[a][k])
    return flat


def measure(info, txs):
    nodes = info["nodes"]
    port = nodes[0]["ports"]["rpc"]
    ws = WsClient("127.0.0.1", port)
    ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                  "params": {"query": "tm.event='NewBlock'"}})
    ws.recv_json()
    block_seen = {}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                ev = ws.recv_json()
            except Exception:
                return
            v = ev.get("result", {}).get("data", {}).get("value", {})
            h = v.get("height") or v.get("block", {}).get("header", {}).get("height")
            if h is not None:
                block_seen[int(h)] = (time.time(), v.get("num_txs", None))

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    sent_at = {}
    conns = [http.client.HTTPConnection("127.0.0.1", n["ports"]["rpc"], timeout=60)
             for n in nodes]
    t0 = time.time()
    chunk = 100  # the default rpc.max_batch
    for i in range(0, len(txs), chunk):
        part = txs[i:i + chunk]
        batch = [{"jsonrpc": "2.0", "id": i + k, "method": "broadcast_tx_sync",
                  "params": {"tx": tx}} for k, tx in enumerate(part)]
        c = conns[(i // chunk) % len(conns)]
        c.request("POST", "/", json.dumps(batch), {"Content-Type": "application/json"})
        resp = json.loads(c.getresponse().read())
        now = time.time()
        for r in resp:
            if "result" in r and r["result"].get("code") == 0:
                sent_at[r["result"]["hash"]] = now
    t_sent = time.time()
    # Wait for the mempools to drain.
    while True:
        n = rpc(port, "num_unconfirmed_txs")["n_txs"]
        if n == 0:
            break
        if time.time() - t_sent > 300:
            break
        time.sleep(0.05)
    t_done = time.time()
    stop.set()
    ws.close()
    # Latency: tx submission to the NewBlock event of the block holding it.
    latencies = []
    # Per-tx latency needs each tx's height: ask `tx` for a sample.
    sample = list(sent_at.items())[:: max(1, len(sent_at) // 400)]
    for hsh, ts in sample:
        r = rpc(port, "tx", {"hash": hsh})
        if r and int(r["height"]) in block_seen:
            latencies.append(block_seen[int(r["height"])][0] - ts)
    latencies.sort()
    committed = len(sent_at)
    tps = committed / (t_done - t0) if t_done > t0 else 0
    p50 = latencies[len(latencies) // 2] if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    for c in conns:
        c.close()
    return committed, tps, p50, p99, t_sent - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--txs", type=int, default=20000)
    ap.add_argument("--accounts", type=int, default=200)
    a = ap.parse_args()
    binary = os.path.join(os.path.abspath(a.build), "stratosd")
    verify = float(run([os.path.join(a.build, "bench", "bench_verify")]).split("=")[1])
    cores = os.cpu_count() or 1
    print("ed25519 verify: %.0f/s per core, %d cores" % (verify, cores))
    ratios = []
    for validators in (1, 4):
        tmp = tempfile.mkdtemp(prefix="stbench-")
        procs = []
        try:
            per = max(1, a.txs // a.accounts)
            out, info, procs = start_net(binary, validators, a.accounts, tmp)
            txs = gen_txs(binary, out, info, a.accounts, per)
            committed, tps, p50, p99, tsend = measure(info, txs)
            ceiling = verify * cores / validators
            print("%d validator(s): %d txs committed, %.0f tx/s, commit latency p50 %.3f s "
                  "p99 %.3f s (submission took %.1f s); ceiling %.0f tx/s"
                  % (validators, committed, tps, p50, p99, tsend, ceiling))
            ratios.append(("chain_%dval_tps_vs_verify_ceiling" % validators, tps / ceiling))
            if validators == 4:
                ratios.append(("chain_4val_p50_finality_s", p50))
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            shutil.rmtree(tmp, ignore_errors=True)
    for name, v in ratios:
        print("RATIO %s=%.3f" % (name, v))


if __name__ == "__main__":
    main()
