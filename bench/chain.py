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


def gen_txs(binary, out, info, accounts, per_account, only=None):
    home = info["nodes"][0]["home"]
    to = info["nodes"][0]["wallet"]["address"]
    txs = []
    for a in ([only] if only is not None else range(accounts)):
        key = os.path.join(out, "accounts", "acc%d.json" % a)
        o = run([binary, "tx", "send", "--home", home, "--key", key, "--to", to,
                 "--amount", "1", "--nonce", "0", "--count", str(per_account),
                 "--generate-only"])
        txs.append(o.split())
    # Interleave accounts so that nonces arrive in order per sender.
    flat = []
    for k in range(per_account):
        for t in txs:
            flat.append(t[k])
    return flat


def measure(info, txs, probes):
    """Posts txs with wrk while a probe thread sends probes one at a time
    with broadcast_tx_commit (submission to commit = the latency). Returns
    (committed, tx/s, p50, p99, seconds to submit)."""
    port = info["nodes"][0]["ports"]["rpc"]
    ws = WsClient("127.0.0.1", port)
    ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                  "params": {"query": "tm.event='NewBlock'"}})
    ws.recv_json()
    block_txs = {}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                ev = ws.recv_json()
            except Exception:
                return
            v = ev.get("result", {}).get("data", {}).get("value", {})
            if "height" in v:
                block_txs[int(v["height"])] = int(v.get("num_txs", 0))

    latencies = []

    def probe():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for tx in probes:
            if stop.is_set():
                break
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_commit",
                               "params": {"tx": tx}})
            t = time.time()
            c.request("POST", "/", body, {"Content-Type": "application/json"})
            r = json.loads(c.getresponse().read())
            if "result" in r and r["result"].get("tx_result", {}).get("code") == 0:
                latencies.append(time.time() - t)
        c.close()

    threading.Thread(target=watch, daemon=True).start()
    # The load comes from wrk (little CPU of its own), posting batches of
    # 100 txs (the default rpc.max_batch) over keep-alive connections.
    tmpd = tempfile.mkdtemp(prefix="stload-")
    bodies = os.path.join(tmpd, "bodies")
    with open(bodies, "w") as f:
        for i in range(0, len(txs), 100):
            batch = [{"jsonrpc": "2.0", "id": i + k, "method": "broadcast_tx_sync",
                      "params": {"tx": tx}} for k, tx in enumerate(txs[i:i + 100])]
            f.write(json.dumps(batch) + "\n")
    threads = 4
    env = dict(os.environ, BODIES=bodies, THREADS=str(threads))
    total = len(txs)
    t0 = time.time()
    wrk = subprocess.Popen(["wrk", "-t%d" % threads, "-c%d" % threads, "-d300s",
                            "-s", os.path.join(HERE, "chain_load.lua"),
                            "http://127.0.0.1:%d/" % port],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    t_sent = None
    while True:
        # Probes committed so far are not load.
        committed = sum(block_txs.values()) - len(latencies)
        if t_sent is None and committed + rpc(port, "num_unconfirmed_txs")["n_txs"] >= total:
            t_sent = time.time()
        if committed >= total or time.time() - t0 > 300:
            break
        time.sleep(0.02)
    t_done = time.time()
    stop.set()
    wrk.kill()
    wrk.wait()
    prober.join(timeout=60)
    ws.close()
    shutil.rmtree(tmpd, ignore_errors=True)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] \
        if latencies else float("nan")
    tps = committed / (t_done - t0)
    return committed, tps, p50, p99, (t_sent or t_done) - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--txs", type=int, default=40000)
    ap.add_argument("--accounts", type=int, default=400)
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
            out, info, procs = start_net(binary, validators, a.accounts + 1, tmp)
            txs = gen_txs(binary, out, info, a.accounts, per)
            probes = gen_txs(binary, out, info, a.accounts + 1, 100, only=a.accounts)
            committed, tps, p50, p99, tsend = measure(info, txs, probes)
            ceiling = verify * cores / validators
            print("%d validator(s): %d txs committed, %.0f tx/s, commit latency under load "
                  "p50 %.3f s p99 %.3f s (all submitted after %.1f s); ceiling %.0f tx/s"
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
