#!/usr/bin/env python3
"""bench/storage: the gateway's file service on a single-machine localnet
(one validator, one meta node whose gateway is used, three resource
nodes; every slice on 3 replicas), beside its references measured in the
same run:

  upload    one large file POSTed through the gateway (curl), MB/s, next
            to BLAKE2b hashing (bench_file) and `dd ... conv=fsync` of the
            same bytes on this disk;
  download  the same file through the gateway, every block verified, vs
            nginx serving the same bytes from disk (same curl);
  small     4 KiB objects through the gateway (wrk, keep-alive), vs nginx
            serving the same objects with the same wrk settings.

Prints figures, then RATIO lines. Usage: bench/storage.py BUILD_DIR
[--mib N] [--seconds S] [--only upload|download|small]; bench/upload.sh,
bench/download.sh and bench/small.sh run one part each.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def rpc(port, method, params=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/", json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                       "params": params or {}}),
              {"Content-Type": "application/json"})
    r = json.loads(c.getresponse().read())
    c.close()
    return r.get("result")


def wait(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return
        except (OSError, TypeError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit("bench/storage: timed out waiting for " + what)


def start_net(binary, tmp):
    out = os.path.join(tmp, "net")
    run([binary, "testnet", "--out", out, "--validators", "1", "--meta", "1",
         "--resource", "3", "--base-port", "34100"])
    info = json.load(open(os.path.join(out, "nodes.json")))
    procs = []
    for n in info["nodes"]:
        log = open(os.path.join(n["home"], "bench.log"), "w")
        p = n["ports"]
        procs.append(subprocess.Popen(
            [binary, "start", "--home", n["home"], "--role=" + ",".join(n["roles"]),
             "--rpc.laddr=127.0.0.1:%d" % p["rpc"],
             "--gateway.laddr=127.0.0.1:%d" % p["gateway"],
             "--p2p.laddr=127.0.0.1:%d" % p["p2p"]], stdout=log, stderr=log))
    return info, procs


def curl_time(args):
    out = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}"] + args)
    code, t = out.split()
    return int(code), float(t)


def wrk_rps(url, seconds, script=None):
    cmd = ["wrk", "-t2", "-c64", "-d%ds" % seconds]
    if script:
        cmd += ["-s", script]
    out = run(cmd + [url])
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)), out


def nginx(tmp, root, port):
    d = os.path.join(tmp, "ng")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("worker_processes 1; daemon off; pid %s/pid; error_log %s/err;\n"
                "events { worker_connections 1024; }\n"
                "http { access_log off; sendfile on; server { listen 127.0.0.1:%d; "
                "root %s; } }\n" % (d, d, port, root))
    p = subprocess.Popen(["nginx", "-c", conf, "-p", d])
    time.sleep(0.5)
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--only", choices=("upload", "download", "small"))
    a = ap.parse_args()
    binary = os.path.join(os.path.abspath(a.build), "stratosd")
    for tool in ("curl", "wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit("bench/storage: needs %s (scripts/deps.sh bench)" % tool)
    tmp = tempfile.mkdtemp(prefix="st-bench-storage-")
    os.chmod(tmp, 0o755)  # nginx's workers read the same files
    procs = []
    ng = None
    try:
        # nginx first, on a port below the ephemeral range, so that no
        # connection of the localnet holds its port.
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        os.chmod(www, 0o755)
        ng = nginx(tmp, www, 30098)
        info, procs = start_net(binary, tmp)
        meta = next(n for n in info["nodes"] if "meta" in n["roles"])
        gw = "http://127.0.0.1:%d" % meta["ports"]["gateway"]
        wait(lambda: os.path.exists(os.path.join(meta["home"], "config", "api_token")), 30,
             "the gateway's token")
        token = open(os.path.join(meta["home"], "config", "api_token")).read().strip()
        wait(lambda: rpc(info["nodes"][0]["ports"]["rpc"], "status")["sync_info"]
             ["latest_block_height"] >= 3, 60, "the value chain")
        run([binary, "tx", "prepay", "--home", meta["home"], "--from", "wallet",
             "--amount", "100000stos", "--rpc",
             "http://127.0.0.1:%d" % meta["ports"]["rpc"]])
        wait(lambda: int(rpc(meta["ports"]["rpc"], "ozone_balance",
                             {"address": meta["wallet"]["address"]})["balance"]) > 0, 60,
             "the ozone prepay")
        wait(lambda: sum(1 for r in rpc(meta["ports"]["rpc"], "resource_status")
                         ["resource_nodes"] if r["mining_status"] == "online") >= 3, 60,
             "three resource nodes online")
        part = {"upload": a.only in (None, "upload"), "download": a.only in (None, "download"),
                "small": a.only in (None, "small")}
        ratios = []
        if part["upload"] or part["download"]:
            big_file(a, binary, tmp, www, gw, token, part, ratios)
        if part["small"]:
            small(a, gw, token, www, ratios)
        for r in ratios:
            print(r)
    finally:
        if ng:
            ng.terminate()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def big_file(a, binary, tmp, www, gw, token, part, ratios):
    big = os.path.join(tmp, "big.bin")
    run(["dd", "if=/dev/urandom", "of=" + big, "bs=1M", "count=%d" % a.mib])
    mb = a.mib * 1048576 / 1e6
    # references: hashing and disk
    hb = run([os.path.join(os.path.abspath(a.build), "bench", "bench_file")])
    m = re.search(r"BLAKE2b[^\n]*?([\d.]+) MB/s", hb)
    blake = float(m.group(1)) if m else 0.0
    t0 = time.time()
    run(["dd", "if=" + big, "of=" + os.path.join(tmp, "dd.out"), "bs=1M", "conv=fsync"])
    dd = mb / (time.time() - t0)
    os.remove(os.path.join(tmp, "dd.out"))
    # upload
    t0 = time.time()
    out = run(["curl", "-s", "-H", "Authorization: Bearer " + token, "-H", "Expect:",
               "-H", "X-Stratos-Replicas: 3", "--data-binary", "@" + big,
               gw + "/v1/files"])
    up_s = time.time() - t0
    fid = json.loads(out)["id"]
    up = mb / up_s
    print("upload %d MiB to 3 replicas: %.2f s, %.0f MB/s (BLAKE2b %.0f MB/s, dd+fsync "
          "%.0f MB/s)" % (a.mib, up_s, up, blake, dd))
    if part["upload"]:
        if blake:
            ratios.append("RATIO upload_vs_blake2b=%.3f" % (up / blake))
        ratios.append("RATIO upload_vs_dd_fsync=%.3f" % (up / dd))
    if not part["download"]:
        return
    shutil.copy(big, os.path.join(www, "big.bin"))
    os.chmod(os.path.join(www, "big.bin"), 0o644)
    best_gw = best_ng = 1e9
    for _ in range(3):
        code, t = curl_time([gw + "/v1/files/" + fid])
        assert code == 200, code
        best_gw = min(best_gw, t)
        code, t = curl_time(["http://127.0.0.1:30098/big.bin"])
        assert code == 200, "nginx answered %d" % code
        best_ng = min(best_ng, t)
    print("download %d MiB: gateway %.0f MB/s (every block verified), nginx %.0f MB/s"
          % (a.mib, mb / best_gw, mb / best_ng))
    ratios.append("RATIO download_vs_nginx=%.3f" % (best_ng / best_gw))


def small(a, gw, token, www, ratios):
    tmp = os.path.dirname(www)
    ids = []
    for i in range(64):
        body = os.urandom(4096)
        with open(os.path.join(www, "o%d" % i), "wb") as f:
            f.write(body)
        os.chmod(os.path.join(www, "o%d" % i), 0o644)
        r = json.loads(run(["curl", "-s", "-H", "Authorization: Bearer " + token,
                            "-H", "X-Stratos-Replicas: 3", "--data-binary",
                            "@" + os.path.join(www, "o%d" % i), gw + "/v1/files"]))
        ids.append(r["id"])
    lua_gw = os.path.join(tmp, "gw.lua")
    lua_ng = os.path.join(tmp, "ng.lua")
    with open(lua_gw, "w") as f:
        f.write("ids = {%s}\ni = 0\nrequest = function()\n  i = i %% #ids + 1\n"
                "  return wrk.format('GET', '/v1/files/' .. ids[i])\nend\n"
                % ",".join('"%s"' % x for x in ids))
    with open(lua_ng, "w") as f:
        f.write("i = 0\nrequest = function()\n  i = i %% %d\n"
                "  local p = '/o' .. i\n  i = i + 1\n  return wrk.format('GET', p)\nend\n"
                % len(ids))
    rps_gw, _ = wrk_rps(gw, a.seconds, lua_gw)
    rps_ng, _ = wrk_rps("http://127.0.0.1:30098", a.seconds, lua_ng)
    print("4 KiB objects: gateway %.0f req/s, nginx %.0f req/s" % (rps_gw, rps_ng))
    ratios.append("RATIO small_vs_nginx=%.3f" % (rps_gw / rps_ng))


if __name__ == "__main__":
    sys.exit(main())
