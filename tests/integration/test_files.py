"""The storage layer end to end, as docs/storage.md describes it: a
localnet of one validator that is also the meta authority (its gateway
serves the file API) and six resource nodes, with 1 MiB slices.

Uploads of every awkward size come back byte for byte, with the
documented JSON, ids that match the file format, three holders per slice
and the exact ozone charge; 500 Range headers get what nginx serves for
the same bytes; headless Chromium plays and seeks a video that the gateway
serves with Range requests; deletes reach the holders' disks; private
files are sealed on disk and shared through links with passwords and
expiry; a corrupted slice on one holder never reaches a client and the
scrub counts it; bad requests get their documented status; a holder
killed is replaced; a gateway killed mid-upload records and charges
nothing; an upload that outlasts gc_grace_ms keeps its slices; a slice
lost on every holder gets an error answer and the gateway stays up.
About 75 s under the sanitizers on two cores.

Python standard library only. nginx, chromium and ffmpeg come from
scripts/deps.sh test. test_10 (a 1 GiB upload) runs only with
STRATOS_BIG_TESTS=1."""

import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import time
import unittest
import urllib.parse

import harness
from wsclient import WsClient
from harness import NodeTestCase, json_body, samples
from localnet import Localnet

KiB = 1 << 10
MiB = 1 << 20
SLICE = MiB                 # genesis params.meta.slice_size
BLOCK = 256 * KiB           # blocks of the file format
SEALED_PLAIN = BLOCK - 16   # plaintext bytes per sealed block
REPLICAS = 3                # params.meta.replicas_default
REPLICAS_MIN, REPLICAS_MAX = 1, 6
NOZ_PER_BYTE = 7            # params.meta.upload_noz_per_byte
BIG = os.environ.get("STRATOS_BIG_TESTS") == "1"
MAX_FILE = ((1 << 30) if BIG else (128 << 20)) + 8 * MiB  # params.meta.max_file_bytes
GC_GRACE_MS = 1000          # params.meta.gc_grace_ms
OFFLINE_AFTER_MS = 4000
HEARTBEAT_MS = 500
N_RESOURCE = 6
SCRUB_S = 10                # the resource module scrubs one slice this often
CHAIN_ID = "itest-chain"    # localnet.py's --chain-id
SHARE_EXPIRE_S = 2

NGINX = "/usr/sbin/nginx"
CHROMIUM = "/usr/bin/chromium"
FFMPEG = "/usr/bin/ffmpeg"

UPLOAD_TIMEOUT = 180.0
ID_RE = re.compile(r"[0-9a-f]{64}\Z")
LINK_RE = re.compile(r"[0-9a-f]{32}\Z")
PRIVATE_LINK_RE = re.compile(r"[0-9a-f]{32}-[0-9a-f]{64}\Z")


def wait_for(what, fn, timeout, interval=0.25):
    """Polls fn until it returns something true; returns that. Fails with
    the last value after timeout seconds (what may be a function, called
    then for the message)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s (last: %r)"
                                 % (timeout, what() if callable(what) else what, last))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# The file format (docs/storage.md), to check ids and slice roots


def _h(tag, data):
    return hashlib.blake2b(bytes([tag]) + data, digest_size=32).digest()


def _merkle_root(leaves):
    if not leaves:
        return _h(0x04, b"")
    level = list(leaves)
    while len(level) > 1:
        up = [_h(0x05, level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        level = up
    return level[0]


def slice_roots(data, slice_size=SLICE):
    return [_merkle_root([_h(0x04, data[j:j + BLOCK])
                          for j in range(i, min(i + slice_size, len(data)), BLOCK)])
            for i in range(0, len(data), slice_size)]


def file_id(data, slice_size=SLICE):
    head = b"stratos-file-v1" + struct.pack(">QI", len(data), slice_size)
    return _h(0x0c, head + _merkle_root(slice_roots(data, slice_size))).hex()


def anon_rss(pid):
    """A process's resident anonymous memory in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/%d/status" % pid)


def ceil_div(a, b):
    return (a + b - 1) // b


# ---------------------------------------------------------------------------
# Ed25519 (RFC 8032) and bech32, for wallet-signed requests


_P = 2 ** 255 - 19
_Q = 2 ** 252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _pt_add(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % _P
    B = (a[1] + a[0]) * (b[1] + b[0]) % _P
    C = 2 * a[3] * b[3] * _D % _P
    D = 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)


def _pt_mul(s, pt):
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _pt_add(q, pt)
        pt = _pt_add(pt, pt)
        s >>= 1
    return q


def _recover_x(y):
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    return _P - x if x & 1 else x


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def _pt_encode(pt):
    zi = pow(pt[2], _P - 2, _P)
    x, y = pt[0] * zi % _P, pt[1] * zi % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return a, h[32:]


def ed25519_pubkey(seed):
    return _pt_encode(_pt_mul(_expand(seed)[0], _G))


def ed25519_sign(seed, msg):
    a, prefix = _expand(seed)
    pk = _pt_encode(_pt_mul(a, _G))
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % _Q
    R = _pt_encode(_pt_mul(r, _G))
    k = int.from_bytes(hashlib.sha512(R + pk + msg).digest(), "little") % _Q
    return R + ((r + k * a) % _Q).to_bytes(32, "little")


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    c = 1
    for v in values:
        top = c >> 25
        c = (c & 0x1ffffff) << 5 ^ v
        for i in range(5):
            if top >> i & 1:
                c ^= gen[i]
    return c


def bech32(hrp, data):
    acc = bits = 0
    d5 = []
    for b in data:
        acc = acc << 8 | b
        bits += 8
        while bits >= 5:
            bits -= 5
            d5.append(acc >> bits & 31)
    if bits:
        d5.append(acc << (5 - bits) & 31)
    hx = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _polymod(hx + d5 + [0] * 6) ^ 1
    return hrp + "1" + "".join(_BECH32[i] for i in d5 + [pm >> 5 * (5 - i) & 31
                                                          for i in range(6)])


class Wallet:
    """A wallet key that signs gateway requests (include/stratos/st_reqauth.h)."""

    def __init__(self, seed):
        self.seed = seed
        self.pubkey = ed25519_pubkey(seed)
        self.address = bech32("st", hashlib.blake2b(self.pubkey, digest_size=32).digest()[:20])

    @classmethod
    def from_keyfile(cls, path):
        with open(path) as f:
            k = json.load(f)
        w = cls(bytes.fromhex(k["seed"]))
        if w.pubkey.hex() != k["pub_key"] or w.address != k["address"]:
            raise AssertionError("key file %s: derived key or address differs" % path)
        return w

    def header(self, method, path, length, time_ms=None, chain_id=CHAIN_ID):
        t = int(time.time() * 1000) if time_ms is None else time_ms
        msg = ("stratos-req-v1\n%s\n%s\n%d\n%d" % (method, path, t, length)).encode()
        cid = chain_id.encode()
        digest = _h(0x0e, bytes([len(cid)]) + cid + msg)
        sig = ed25519_sign(self.seed, digest)
        return {"Authorization": "Stratos pubkey=%s,time=%d,sig=%s"
                                 % (self.pubkey.hex(), t, sig.hex())}


# ---------------------------------------------------------------------------
# HTTP on a kept-alive connection (for the 500 Range requests)


class Conn:
    def __init__(self, host, port, timeout=60.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.c = None

    def request(self, method, path, headers=None):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.c.request(method, path, headers=headers or {})
                r = self.c.getresponse()
                body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, r.headers, body
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


# ---------------------------------------------------------------------------
# nginx serving the same bytes, for the Range comparison


class Nginx:
    def __init__(self, owner, files):
        self.dir = harness.new_tmpdir(owner, "st-nginx-")
        root = os.path.join(self.dir, "root")
        for d in ("root", "logs", "tmp"):
            os.makedirs(os.path.join(self.dir, d))
        for name, data in files.items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        self.port = harness.free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        tmp = os.path.join(self.dir, "tmp")
        with open(conf, "w") as f:
            f.write("daemon off;\nmaster_process off;\n%s"
                    "pid %s/nginx.pid;\nerror_log %s/logs/error.log warn;\n"
                    "events { worker_connections 64; }\n"
                    "http {\n  access_log off;\n  default_type application/octet-stream;\n"
                    "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
                    "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
                    "  server {\n    listen 127.0.0.1:%d;\n    root %s;\n  }\n}\n"
                    % ("user root;\n" if os.geteuid() == 0 else "", self.dir, self.dir,
                       tmp, tmp, tmp, tmp, tmp, self.port, root))
        self.log = open(os.path.join(self.dir, "logs", "stderr"), "w+b")
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.dir + "/", "-c", conf, "-e", os.path.join(self.dir, "logs",
                                                                       "error.log")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)
        harness._add_cleanup(owner, self._cleanup)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited: %s" % self.stderr())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                return False
        wait_for("nginx listening", up, 20, 0.05)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def _cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        harness._killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


# ---------------------------------------------------------------------------
# Range headers


HUGE = [2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64, 10 ** 23, 922337203685477580]
GARBAGE = ["bytes=abc", "bytes=1-2-3", "bytes=1", "bytes=-", "bytes=--5", "bytes=1-x",
           "bytes=x-2", "bytes=+1-2", "bytes=1-+2", "bytes=0x10-0x20", "bytes=1-2;",
           "bytes=1-2 garbage", "bytes=- 5", "bytes=1-2,", "bytes=1-2 ,", "bytes=,1-2",
           "bytes=1-2,,5-9", "bytes=1-\t2", "bytes=\t1-2", "=", "bytes=", "bytes =1-2",
           "items=1-2", "bits=1-2", "Bytes=1-2", "BYTES=0-10", "bYtEs=5-", "bytes= 1-2",
           "bytes=1 - 2", "bytes= -5", "bytes=007-008", "bytes=-007",
           "bytes=000000000000000000000000001-2", "bytes=-0", "bytes=1-2,x",
           "bytes=x,1-2", "bytes=0-0", "bytes=0-", "bytes=-1", "none",
           "bytes==1-2", "bytes=1--2", "bytes=1-2-", "bytes=1-2,-0", "bytes=0-1,abc",
           "bytes=abc,0-1", "bytes=5-9,0-1", "bytes=0-0,0-0"]


def random_range(rng, size):
    """A Range header value: mostly well-formed single ranges at awkward
    places (block and slice edges, the end), then suffixes, past-the-end,
    inverted, garbage, several ranges and huge numbers."""
    edges = [0, 1, size - 1, size, size + 1]
    for k in range(1, size // BLOCK + 1):
        edges += [k * BLOCK - 1, k * BLOCK, k * BLOCK + 1]

    def pos():
        c = rng.random()
        if c < 0.4:
            return max(0, rng.choice(edges))
        if c < 0.9:
            return rng.randrange(0, size + 1)
        return rng.randrange(0, 2 * size + 2)

    def spec():
        c = rng.random()
        if c < 0.55:
            a = pos()
            return "%d-%d" % (a, a + rng.choice([0, 1, 2, 100, BLOCK - 1, BLOCK, SLICE,
                                                 rng.randrange(0, 3 * SLICE)]))
        if c < 0.72:
            return "%d-" % pos()
        if c < 0.92:
            return "-%d" % rng.choice([0, 1, 2, 100, BLOCK, SLICE, size - 1, size,
                                       size + 1, rng.randrange(0, size + 10)])
        a = pos()
        return "%d-%d" % (a + rng.randrange(1, 1000), a)  # inverted

    c = rng.random()
    if c < 0.67:
        return "bytes=" + spec()
    if c < 0.75:
        a = rng.randrange(size, 2 * size)
        return "bytes=%d-%d" % (a, a + rng.randrange(0, 1000))
    if c < 0.83:
        return rng.choice(GARBAGE)
    if c < 0.87:
        junk = "".join(rng.choice("0123456789-=,; bytesBYX+") for _ in range(rng.randrange(1, 14)))
        return junk.strip() or "x"
    if c < 0.95:
        return "bytes=" + ",".join(spec() for _ in range(rng.randrange(2, 5)))
    h = rng.choice(HUGE)
    return "bytes=" + rng.choice(["0-%d" % h, "-%d" % h, "%d-" % h, "%d-%d" % (h, h),
                                  "5-%d" % h, "%d-10" % h])


# ---------------------------------------------------------------------------


def storage_genesis(g):
    """The validator is also the meta authority (whose gateway serves the
    file API); short storage parameters for tests."""
    v = g["validators"][0]
    g.setdefault("meta_nodes", []).insert(0, {
        "pub_key": v["pub_key"], "owner": g["accounts"][0]["address"],
        "deposit": "1000000000000000000000", "network_address": "127.0.0.1:1",
        "moniker": "gateway"})
    g["params"].setdefault("meta", {}).update({
        "offline_after_ms": OFFLINE_AFTER_MS, "heartbeat_interval_ms": HEARTBEAT_MS,
        "slice_size": SLICE, "replicas_default": REPLICAS, "replicas_min": REPLICAS_MIN,
        "replicas_max": REPLICAS_MAX, "upload_noz_per_byte": NOZ_PER_BYTE,
        "max_file_bytes": MAX_FILE, "gc_grace_ms": GC_GRACE_MS,
        # Downloads free of charge: the exact upload charges checked here
        # must not move with the traffic of downloads (test_traffic.py).
        "download_noz_per_byte": 0})


class FilesTest(NodeTestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        for tool in (NGINX, CHROMIUM, FFMPEG):
            if not os.access(tool, os.X_OK):
                raise AssertionError("%s is missing: run scripts/deps.sh test" % tool)
        cls.tmp = harness.new_tmpdir(cls, "st-files-")
        cls.net = Localnet(cls, validators=1, resource=N_RESOURCE, genesis_edit=storage_genesis)
        cls.net.specs[0]["roles"] = ["value", "meta"]
        cls.net.start_all()
        cls.gw = cls.net.nodes[0]
        cls.res = list(range(1, 1 + N_RESOURCE))
        cls.node_index = {cls.net.specs[i]["node_id"]: i for i in cls.res}
        cls.owner = cls.net.specs[0]["wallet"]["address"]
        cls.wallet = Wallet.from_keyfile(os.path.join(cls.net.specs[0]["home"], "keyring",
                                                      "wallet.json"))
        assert cls.wallet.address == cls.owner, (cls.wallet.address, cls.owner)
        token_path = os.path.join(cls.net.specs[0]["home"], "config", "api_token")
        wait_for("the gateway's api_token", lambda: os.path.isfile(token_path), 20)
        with open(token_path) as f:
            cls.token = f.read().strip()
        cls.auth = {"Authorization": "Bearer " + cls.token}
        cls.wait_online(cls.res)
        start = cls.balance()
        rc, out, err = harness.run(
            ["tx", "prepay", "--amount", "100stos", "--home", cls.net.specs[0]["home"],
             "--from", "wallet", "--mode", "commit", "--rpc", cls.gw.rpc_url], timeout=120)
        if rc != 0:
            raise AssertionError("prepay failed rc=%d\n%s\n%s" % (rc, out, err))
        wait_for("the prepay credited", lambda: cls.balance() > start, 60)
        cls.uploads = {}
        cls.rng = random.Random(int(os.environ.get("ST_FILES_SEED", "0")) or None)

    # -- helpers -----------------------------------------------------------

    @classmethod
    def wait_online(cls, idx, timeout=60):
        ids = [cls.net.specs[i]["node_id"] for i in idx]

        def online():
            st = cls.gw.result("resource_status", {})["resource_nodes"]
            on = {n["address"] for n in st if n["mining_status"] == "online"}
            return all(a in on for a in ids)
        wait_for("resource nodes online", online, timeout)

    @classmethod
    def balance(cls, address=None):
        r = cls.gw.result("ozone_balance", {"address": address or cls.owner})
        return int(r["balance"])

    def req(self, method, path, body=None, headers=None, timeout=UPLOAD_TIMEOUT, node=None):
        node = node or self.gw
        return harness.http_request(node.gateway_url, method, path=path, body=body,
                                    headers=headers, timeout=timeout)

    def upload(self, data, name=None, ctype=None, headers=None, auth=None):
        h = dict(self.auth if auth is None else auth)
        if name is not None:
            h["X-Stratos-Name"] = name
        if ctype is not None:
            h["Content-Type"] = ctype
        h.update(headers or {})
        status, hdrs, body = self.req("POST", "/v1/files", body=data, headers=h)
        return status, hdrs, body

    def put(self, data, name=None, ctype=None, headers=None, want=201):
        """Uploads with the token; checks the status; returns (doc, noz
        charged)."""
        before = self.balance()
        status, hdrs, body = self.upload(data, name, ctype, headers)
        self.assertEqual(status, want, body[:500])
        doc = json_body(status, body)
        after = self.balance()
        return doc, before - after

    def expect_error(self, status, body, code):
        self.assertEqual(status, code, body[:500])
        doc = json_body(status, body)
        self.assertEqual(set(doc), {"error"}, doc)
        self.assertEqual(doc["error"].get("code"), code, doc)
        self.assertIsInstance(doc["error"].get("message"), str, doc)
        self.assertTrue(doc["error"]["message"], doc)

    def assertDisposition(self, hdrs, name):
        """Content-Disposition: inline; filename="<name>" (docs/storage.md);
        an RFC 6266 filename* beside it must name the same file."""
        v = hdrs.get("Content-Disposition") or ""
        parts = [p.strip() for p in v.split(";")]
        self.assertEqual(parts[:2], ["inline", 'filename="%s"' % name], v)
        for p in parts[2:]:
            self.assertTrue(p.startswith("filename*=UTF-8''"), v)
            self.assertEqual(urllib.parse.unquote(p[len("filename*=UTF-8''"):]), name, v)

    def share(self, fid, req):
        status, _, body = self.req("POST", "/v1/files/%s/share" % fid,
                                   body=json.dumps(req).encode(),
                                   headers=dict(self.auth, **{"Content-Type":
                                                              "application/json"}))
        self.assertEqual(status, 201, body)
        doc = json_body(status, body)
        self.assertEqual(set(doc), {"link", "url", "expires_ms"}, doc)
        self.assertEqual(doc["url"], "/s/" + doc["link"])
        return doc

    def info(self, fid):
        status, _, body = self.req("GET", "/v1/files/%s/info" % fid)
        self.assertEqual(status, 200, body[:500])
        return json_body(status, body)

    def listing(self, owner, limit=None):
        """Every file of owner, following next."""
        out, after = [], None
        for _ in range(1000):
            q = {"owner": owner}
            if limit:
                q["limit"] = str(limit)
            if after:
                q["after"] = after
            status, _, body = self.req("GET", "/v1/files?" + urllib.parse.urlencode(q))
            self.assertEqual(status, 200, body[:500])
            doc = json_body(status, body)
            self.assertEqual(set(doc), {"files", "next"}, doc)
            out += doc["files"]
            if doc["next"] is None:
                return out
            self.assertEqual(doc["next"], doc["files"][-1]["id"], doc)
            after = doc["next"]
        raise AssertionError("listing never ends")

    def download(self, fid, headers=None, method="GET"):
        return self.req(method, "/v1/files/%s" % fid, headers=headers)

    def metric(self, i, family):
        fams = self.net.nodes[i].metrics()
        s = samples(fams, family)
        self.assertEqual(len(s), 1, fams.get(family))
        return s[0][2]

    def slice_files(self, i):
        """{root hex: path} of the .slice files on resource node i's disk."""
        out = {}
        top = os.path.join(self.net.specs[i]["home"], "data", "slices")
        for d, _, files in os.walk(top):
            for f in files:
                if f.endswith(".slice"):
                    out[f[:-len(".slice")]] = os.path.join(d, f)
        return out

    def check_holders(self, inf, data=None, dead=()):
        """Every slice on exactly its replica target of distinct live
        resource nodes, each with the slice on its disk."""
        reps = inf["replicas"]
        for k, s in enumerate(inf["slices"]):
            hs = s["holders"]
            self.assertEqual(len(hs), reps, (k, s))
            self.assertEqual(len(set(hs)), reps, (k, s))
            for h in hs:
                self.assertIn(h, self.node_index, (k, s))
                i = self.node_index[h]
                self.assertNotIn(i, dead, "slice %d still names a killed holder: %s" % (k, s))
                path = self.slice_files(i).get(s["root"])
                self.assertIsNotNone(path, "holder node%d has no file for slice %s"
                                     % (i, s["root"]))
                if data is not None:
                    with open(path, "rb") as f:
                        self.assertEqual(f.read(), data[k * SLICE:(k + 1) * SLICE],
                                         "slice %d on node%d differs" % (k, i))

    def keep_gateway_up(self):
        """Registers a cleanup that restarts the gateway node if the test
        left it dead, so that one crash does not fail the tests after it."""
        def revive():
            if not self.gw.alive():
                self.gw = type(self).gw = self.net.start(0)
                self.wait_online([i for i in self.res if self.net.nodes[i].alive()])
        self.addCleanup(revive)

    def assertGatewayAlive(self, what):
        time.sleep(0.5)  # a crash after the answer shows within moments
        self.assertTrue(self.gw.alive(), "the gateway node died after %s (exit %s):\n%s"
                        % (what, self.gw.proc.poll(), "\n".join(
                            l for l in self.gw.stderr_text().splitlines()[-60:]
                            if "consensus/" not in l)))
        status, _, body = self.req("GET", "/healthz")
        self.assertEqual(status, 200, body)

    def missing_copies(self, inf):
        """(copies named by /info, those not on their holder's disk)."""
        disk = {i: set(self.slice_files(i)) for i in self.res}
        named = missing = 0
        for s in inf["slices"]:
            for h in s["holders"]:
                named += 1
                missing += s["root"] not in disk[self.node_index[h]]
        return named, missing

    def standard_files(self):
        """The five files of test_01, uploaded once for the tests that use
        them: {key: (data, doc, charged)}."""
        if not self.uploads:
            rnd = random.Random(7)
            sizes = {"empty": 0, "one": 1, "slice": SLICE, "slice1": SLICE + 1,
                     "multi": 4 * SLICE + 123}
            for key, n in sizes.items():
                data = rnd.randbytes(n)
                doc, charged = self.put(data, name=key + ".bin")
                self.uploads[key] = (data, doc, charged)
        return self.uploads

    # -- a corrupted slice on one holder (first: the scrub round is shortest
    # while the holders store little) -------------------------------------

    def test_01_corrupt_slice_never_served_and_counted(self):
        data = random.Random(66).randbytes(SLICE // 2 + 333)
        doc, _ = self.put(data, name="bitrot.bin")
        inf = self.info(doc["id"])
        root = inf["slices"][0]["root"]
        holders = [self.node_index[h] for h in inf["slices"][0]["holders"]]
        # The holder with the fewest slices: its scrub reaches this one first.
        counts = {i: self.metric(i, "stratos_resource_stored_slices") for i in holders}
        victim = min(holders, key=lambda i: counts[i])
        corrupt0 = self.metric(victim, "stratos_resource_corrupt_slices_total")
        path = self.slice_files(victim)[root]
        with open(path, "r+b") as f:
            f.seek(len(data) // 2)
            b = f.read(1)
            f.seek(len(data) // 2)
            f.write(bytes([b[0] ^ 0x55]))
        for _ in range(3):
            status, _, body = self.download(doc["id"])
            self.assertEqual(status, 200)
            self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest())
        status, _, body = self.download(doc["id"], {"Range": "bytes=%d-%d"
                                                    % (len(data) // 2 - 10, len(data) // 2 + 10)})
        self.assertEqual((status, body), (206, data[len(data) // 2 - 10:len(data) // 2 + 11]))
        # Within one scrub round of that holder (one slice per SCRUB_S).
        limit = (counts[victim] + 2) * SCRUB_S + 10
        wait_for("node%d's scrub to count the corrupt slice" % victim,
                 lambda: self.metric(victim, "stratos_resource_corrupt_slices_total")
                 >= corrupt0 + 1, limit, 1.0)

    # -- uploads of every awkward size ------------------------------------

    def test_02_upload_sizes_download_info_list_charge(self):
        files = self.standard_files()
        for key, (data, doc, charged) in files.items():
            with self.subTest(file=key):
                n = len(data)
                self.assertEqual(set(doc), {"id", "size", "plain_size", "slices", "replicas",
                                            "encrypted", "name", "content_type", "owner"}, doc)
                self.assertRegex(doc["id"], ID_RE)
                self.assertEqual(doc["id"], file_id(data))
                self.assertEqual(doc["size"], n)
                self.assertEqual(doc["plain_size"], n)
                self.assertEqual(doc["slices"], ceil_div(n, SLICE))
                self.assertEqual(doc["replicas"], REPLICAS)
                self.assertIs(doc["encrypted"], False)
                self.assertEqual(doc["name"], key + ".bin")
                self.assertEqual(doc["content_type"], "application/octet-stream")
                self.assertEqual(doc["owner"], self.owner)
                self.assertEqual(charged, n * REPLICAS * NOZ_PER_BYTE)

                status, hdrs, body = self.download(doc["id"])
                self.assertEqual(status, 200, body[:300])
                self.assertEqual(hashlib.sha256(body).hexdigest(),
                                 hashlib.sha256(data).hexdigest())
                self.assertEqual(hdrs.get("Content-Length"), str(n))
                self.assertEqual(hdrs.get("ETag"), '"%s"' % doc["id"])
                self.assertEqual(hdrs.get("Accept-Ranges"), "bytes")
                self.assertEqual(hdrs.get("Content-Type"), "application/octet-stream")
                self.assertDisposition(hdrs, key + ".bin")

                status, hdrs, body = self.download(doc["id"], method="HEAD")
                self.assertEqual(status, 200)
                self.assertEqual(body, b"")
                self.assertEqual(hdrs.get("Content-Length"), str(n))
                self.assertEqual(hdrs.get("ETag"), '"%s"' % doc["id"])
                self.assertEqual(hdrs.get("Accept-Ranges"), "bytes")

                inf = self.info(doc["id"])
                for k in ("id", "owner", "size", "plain_size", "slice_size", "replicas",
                          "content_type", "name", "encrypted", "created_ms", "slices"):
                    self.assertIn(k, inf)
                self.assertEqual(inf["id"], doc["id"])
                self.assertEqual(inf["owner"], self.owner)
                self.assertEqual((inf["size"], inf["plain_size"]), (n, n))
                self.assertEqual(inf["slice_size"], SLICE)
                self.assertEqual(inf["replicas"], REPLICAS)
                self.assertIs(inf["encrypted"], False)
                self.assertGreater(inf["created_ms"], 0)
                self.assertEqual([s["root"] for s in inf["slices"]],
                                 [r.hex() for r in slice_roots(data)])
                self.assertEqual([s["size"] for s in inf["slices"]],
                                 [min(SLICE, n - i) for i in range(0, n, SLICE)])
                self.check_holders(inf, data)

        # The owner's listing has all of them, whole and page by page.
        want = {doc["id"]: (len(data), key) for key, (data, doc, _) in files.items()}
        for limit in (None, 2):
            got = self.listing(self.owner, limit)
            ids = [f["id"] for f in got]
            self.assertEqual(ids, sorted(ids), "listing not in id order")
            self.assertEqual(len(ids), len(set(ids)))
            byid = {f["id"]: f for f in got}
            for fid, (n, key) in want.items():
                self.assertIn(fid, byid)
                f = byid[fid]
                self.assertEqual(set(f), {"id", "size", "plain_size", "name", "content_type",
                                          "encrypted", "created_ms"}, f)
                self.assertEqual((f["size"], f["plain_size"], f["name"], f["encrypted"]),
                                 (n, n, key + ".bin", False))

        # The same bytes again: 200, the same answer, nothing charged.
        data, doc, _ = files["slice1"]
        again, charged = self.put(data, name="slice1.bin", want=200)
        self.assertEqual(again, doc)
        self.assertEqual(charged, 0)
        # Under another name and replica count: the recorded values.
        again, charged = self.put(data, name="renamed.bin", ctype="text/plain",
                                  headers={"X-Stratos-Replicas": "2"}, want=200)
        self.assertEqual(again, doc)
        self.assertEqual(charged, 0)

        # Another replica count within the bounds, another content type.
        data = random.Random(8).randbytes(2 * SLICE + 5)
        doc, charged = self.put(data, name="two.bin", ctype="text/plain",
                                headers={"X-Stratos-Replicas": "2"})
        self.assertEqual((doc["replicas"], doc["content_type"]), (2, "text/plain"))
        self.assertEqual(charged, len(data) * 2 * NOZ_PER_BYTE)
        inf = self.info(doc["id"])
        self.assertEqual(inf["replicas"], 2)
        self.check_holders(inf, data)
        status, hdrs, body = self.download(doc["id"])
        self.assertEqual((status, body == data), (200, True))
        self.assertEqual(hdrs.get("Content-Type"), "text/plain")

    # -- an upload that lasts longer than gc_grace_ms ---------------------------

    def test_02b_upload_longer_than_gc_grace_kept(self):
        """96 MiB take the gateway a few seconds to slice and place, longer
        than gc_grace_ms (1 s here; an hour by default, which a large file
        over a slow link outlasts too): the slices stored first must not be
        collected before the file is recorded."""
        self.keep_gateway_up()
        data = os.urandom(96 * MiB)
        doc, charged = self.put(data, name="long.bin")
        # Deleted after the test: slices lost here would keep the meta
        # chain repairing (and the later tests waiting).
        self.addCleanup(self.req, "DELETE", "/v1/files/" + doc["id"], None, self.auth)
        self.assertEqual(charged, len(data) * REPLICAS * NOZ_PER_BYTE)
        inf = self.info(doc["id"])
        time.sleep(3 * GC_GRACE_MS / 1000)  # a few collection rounds
        named, missing = self.missing_copies(inf)
        self.assertEqual(missing, 0, "right after the 201 and 3 s on, %d of the %d slice copies "
                         "/info names are gone from their holders' disks" % (missing, named))
        status, _, body = self.download(doc["id"])
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest())

    # -- Range requests against nginx ---------------------------------------

    def test_03_ranges_as_nginx(self):
        files = self.standard_files()
        seed = self.rng.randrange(1 << 30)
        rng = random.Random(seed)
        nginx = Nginx(self, {k: files[k][0] for k in ("multi", "empty", "one")})
        ng = Conn("127.0.0.1", nginx.port)
        gw = Conn("127.0.0.1", self.gw.gateway_port)
        self.addCleanup(ng.close)
        self.addCleanup(gw.close)
        cases = []
        for key, count in (("multi", 500), ("empty", 40), ("one", 40)):
            size = len(files[key][0])
            cases += [(key, v) for v in GARBAGE + HUGE_CASES]
            cases += [(key, random_range(rng, max(size, 1))) for _ in range(count)]
        failures = []
        n_ranges = n_whole = 0
        for key, value in cases:
            data, doc, _ = files[key]
            ns, nh, nb = ng.request("GET", "/" + key, {"Range": value})
            gs, gh, gb = gw.request("GET", "/v1/files/" + doc["id"], {"Range": value})
            got = (gs, gh.get("Content-Range"), gh.get("Content-Length"))
            if ns == 206 and nh.get("Content-Type", "").startswith("multipart/byteranges"):
                # The documented difference: several ranges get the whole file.
                want = (200, None, str(len(data)))
                ok = got == want and gb == data
            else:
                want = (ns, nh.get("Content-Range"), nh.get("Content-Length"))
                if ns in (200, 206):
                    ok = got == want and gb == nb
                else:  # error bodies differ (JSON here, HTML there)
                    ok = got[:2] == want[:2]
            if gs == 206:
                n_ranges += 1
            elif gs == 200:
                n_whole += 1
            if not ok:
                failures.append("%s Range %r: nginx %s, gateway %s%s"
                                % (key, value, want, got,
                                   "" if got != want else " (body differs)"))
        self.assertFalse(failures, "seed %d: %d of %d differ:\n%s"
                         % (seed, len(failures), len(cases), "\n".join(failures[:40])))
        self.assertGreater(n_ranges, 200)

        # Conditionals: If-None-Match with the ETag, If-Range matching or not.
        data, doc, _ = files["multi"]
        etag = '"%s"' % doc["id"]
        for inm in (etag, "W/" + etag, "*", '"x", ' + etag):
            for rng_hdr in ({}, {"Range": "bytes=0-9"}):
                status, hdrs, body = self.download(doc["id"], dict(rng_hdr, **{
                    "If-None-Match": inm}))
                self.assertEqual(status, 304, (inm, rng_hdr))
                self.assertEqual(body, b"")
                self.assertEqual(hdrs.get("ETag"), etag)
        status, _, body = self.download(doc["id"], {"If-None-Match": '"other"'})
        self.assertEqual((status, body == data), (200, True))
        status, hdrs, body = self.download(doc["id"], {"If-Range": etag,
                                                       "Range": "bytes=%d-%d" % (SLICE - 5,
                                                                                 SLICE + 4)})
        self.assertEqual(status, 206)
        self.assertEqual(hdrs.get("Content-Range"),
                         "bytes %d-%d/%d" % (SLICE - 5, SLICE + 4, len(data)))
        self.assertEqual(body, data[SLICE - 5:SLICE + 5])
        for ir in ('"other"', "W/" + etag, doc["id"], "Tue, 01 Jan 2030 00:00:00 GMT"):
            status, hdrs, body = self.download(doc["id"], {"If-Range": ir,
                                                           "Range": "bytes=0-9"})
            self.assertEqual(status, 200, ir)
            self.assertEqual(body, data, ir)
            self.assertIsNone(hdrs.get("Content-Range"), ir)

    # -- a browser plays and seeks a video -----------------------------------

    def play_in_chromium(self, d, page):
        """Opens page in headless Chromium and reads its #result through
        the DevTools protocol, in real time, until it is no longer
        "pending" (a 120 s deadline)."""
        proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--mute-audio",
             "--user-data-dir=" + os.path.join(d, "profile"),
             "--autoplay-policy=no-user-gesture-required",
             "--remote-debugging-port=0", "--remote-allow-origins=*", "file://" + page],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        try:
            port = None
            end = time.time() + 60
            err = b""
            while port is None and time.time() < end:
                line = proc.stderr.readline()
                if not line:
                    break
                err += line
                m = re.search(rb"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
                if m:
                    port = int(m.group(1))
            self.assertIsNotNone(port, "chromium printed no DevTools address:\n%s"
                                 % err.decode(errors="replace")[-2000:])

            def page_ws():
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                c.request("GET", "/json/list")
                targets = json.loads(c.getresponse().read())
                c.close()
                for t in targets:
                    if t.get("type") == "page" and t.get("url", "").endswith("play.html"):
                        return t["webSocketDebuggerUrl"]
                return None
            wsurl = wait_for("chromium's page target", page_ws, 30)
            path = "/" + wsurl.split("/", 3)[3]
            ws = WsClient("127.0.0.1", port, path, timeout=30)
            result, n = "pending", 0
            end = time.time() + 120
            while result == "pending" and time.time() < end:
                n += 1
                ws.send_json({"id": n, "method": "Runtime.evaluate", "params": {
                    "expression": "document.getElementById('result').textContent",
                    "returnByValue": True}})
                while True:
                    msg = ws.recv_json()
                    if msg.get("id") == n:
                        break
                result = msg["result"]["result"].get("value", "pending")
                if result == "pending":
                    time.sleep(0.25)
            ws.close()
            return result
        finally:
            harness._killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stderr.close()

    def test_04_chromium_plays_and_seeks_video(self):
        d = harness.new_tmpdir(self, "st-video-")
        mp4 = os.path.join(d, "clip.mp4")
        rc = subprocess.run(
            [FFMPEG, "-v", "error", "-y", "-f", "lavfi",
             "-i", "testsrc=duration=20:size=320x240:rate=25", "-vf", "noise=alls=6:allf=t",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
             "-movflags", "+faststart", mp4], capture_output=True, timeout=120)
        self.assertEqual(rc.returncode, 0, rc.stderr[-2000:])
        with open(mp4, "rb") as f:
            video = f.read()
        self.assertGreater(len(video), 2 * SLICE)
        doc, _ = self.put(video, name="clip.mp4", ctype="video/mp4")
        self.assertGreaterEqual(doc["slices"], 3)
        url = "%sv1/files/%s" % (self.gw.gateway_url, doc["id"])
        page = os.path.join(d, "play.html")
        with open(page, "w") as f:
            f.write(VIDEO_PAGE.replace("@URL@", url))

        def file_requests(fams):
            out = {}
            for _, labels, v in samples(fams, "stratos_http_requests_total", server="gateway"):
                r = labels["route"]
                if r.startswith("/v1/files/") and not r.endswith("/info"):
                    out[labels["code"]] = out.get(labels["code"], 0) + v
            return out
        before = file_requests(self.gw.metrics())
        result = self.play_in_chromium(d, page)
        self.assertTrue(result.startswith("OK "), result)
        vals = dict(kv.split("=") for kv in result.split()[1:] if "=" in kv)
        self.assertAlmostEqual(float(vals["duration"]), 20.0, delta=0.2)
        self.assertGreaterEqual(float(vals["seeked"]), 9.0)
        self.assertLessEqual(float(vals["seeked"]), 11.0)
        self.assertGreater(float(vals["current"]), float(vals["seeked"]))
        def counted():
            a = file_requests(self.gw.metrics())
            return a if a.get("206", 0) > before.get("206", 0) else None
        after = wait_for("the browser's requests counted", counted, 5)
        ranged = after.get("206", 0) - before.get("206", 0)
        whole = after.get("200", 0) - before.get("200", 0)
        self.assertGreaterEqual(ranged, 1, (before, after))
        self.assertEqual(whole, 0, "the browser got the whole file without a range: %s %s"
                         % (before, after))

    # -- delete --------------------------------------------------------------

    def test_05_delete_frees_the_holders(self):
        data = random.Random(41).randbytes(2 * SLICE + 77)
        doc, _ = self.put(data, name="gone.bin")
        fid = doc["id"]
        inf = self.info(fid)
        held = {}
        for s in inf["slices"]:
            for h in s["holders"]:
                i = self.node_index[h]
                held[i] = held.get(i, 0) + 1
        before = {i: self.metric(i, "stratos_resource_stored_slices") for i in held}
        status, _, body = self.req("DELETE", "/v1/files/" + fid, headers=self.auth)
        self.assertEqual(status, 200, body)
        self.assertEqual(json_body(status, body), {"deleted": fid})
        status, _, body = self.download(fid)
        self.expect_error(status, body, 404)
        status, _, body = self.req("GET", "/v1/files/%s/info" % fid)
        self.expect_error(status, body, 404)
        self.assertNotIn(fid, [f["id"] for f in self.listing(self.owner)])
        status, _, body = self.req("DELETE", "/v1/files/" + fid, headers=self.auth)
        self.expect_error(status, body, 404)

        roots = {s["root"] for s in inf["slices"]}
        last = {}

        def freed():
            for i in held:
                last[i] = (self.metric(i, "stratos_resource_stored_slices"),
                           sorted(r[:8] for r in roots & set(self.slice_files(i))))
            # Each holder's count dropped by at least its slices of the file
            # (other unclaimed slices may be collected at the same time) and
            # none of them is left on its disk.
            return all(last[i][0] <= before[i] - held[i] and not last[i][1] for i in held)
        wait_for(lambda: "the holders to drop the deleted file's slices (held %s, counts "
                 "before %s, now and left on disk %s)" % (held, before, last),
                 freed, 90 + GC_GRACE_MS / 1000, 0.5)

    # -- private files and share links ----------------------------------------

    def test_06_private_file_and_share_links(self):
        marker = b"PLAINTEXT-MARKER-%d-" % random.Random(5).randrange(10 ** 12)
        rnd = random.Random(55)
        parts = []
        while sum(map(len, parts)) < SLICE + 3 * BLOCK:
            parts += [marker, rnd.randbytes(997)]
        plain = b"".join(parts)
        n = len(plain)
        sealed = n + 16 * ceil_div(n, SEALED_PLAIN)
        doc, charged = self.put(plain, name="secret.txt", ctype="text/plain",
                                headers={"X-Stratos-Encrypt": "true"})
        fid = doc["id"]
        self.assertIs(doc["encrypted"], True)
        self.assertEqual(doc["plain_size"], n)
        self.assertEqual(doc["size"], sealed)
        self.assertEqual(doc["slices"], ceil_div(sealed, SLICE))
        self.assertEqual(charged, sealed * REPLICAS * NOZ_PER_BYTE)
        self.assertNotEqual(fid, file_id(plain))
        inf = self.info(fid)
        self.assertIs(inf["encrypted"], True)
        self.assertEqual((inf["size"], inf["plain_size"]), (sealed, n))
        self.check_holders(inf)

        # The owner's token reads the plaintext, whole and by range.
        status, hdrs, body = self.download(fid, self.auth)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(body, plain)
        self.assertEqual(hdrs.get("Content-Length"), str(n))
        a, b = SEALED_PLAIN - 3, 2 * SEALED_PLAIN + 10
        status, hdrs, body = self.download(fid, dict(self.auth, Range="bytes=%d-%d" % (a, b)))
        self.assertEqual(status, 206)
        self.assertEqual(hdrs.get("Content-Range"), "bytes %d-%d/%d" % (a, b, n))
        self.assertEqual(body, plain[a:b + 1])
        # Nobody else does.
        status, _, body = self.download(fid)
        self.expect_error(status, body, 403)
        stranger = Wallet(os.urandom(32))
        status, _, body = self.download(
            fid, stranger.header("GET", "/v1/files/" + fid, 0))
        self.expect_error(status, body, 403)
        # The holders' disks hold ciphertext only.
        seen = 0
        roots = {s["root"] for s in inf["slices"]}
        for i in self.res:
            for root, path in self.slice_files(i).items():
                with open(path, "rb") as f:
                    content = f.read()
                self.assertNotIn(marker, content, "plaintext on node%d in %s" % (i, path))
                seen += root in roots
        self.assertEqual(seen, len(roots) * REPLICAS)

        # A share link with a password: it carries the file key.
        share = self.share(fid, {"password": "pw"})
        link = share["link"]
        self.assertRegex(link, PRIVATE_LINK_RE)
        self.assertEqual(share["url"], "/s/" + link)
        status, hdrs, body = self.req("GET", "/s/" + link, headers={"X-Stratos-Password": "pw"})
        self.assertEqual((status, body == plain), (200, True), body[:300])
        self.assertEqual(hdrs.get("Content-Length"), str(n))
        status, hdrs, body = self.req("GET", "/s/%s?password=pw" % link,
                                      headers={"Range": "bytes=-100"})
        self.assertEqual(status, 206, body[:300])
        self.assertEqual(hdrs.get("Content-Range"), "bytes %d-%d/%d" % (n - 100, n - 1, n))
        self.assertEqual(body, plain[-100:])
        a, b = SLICE - 7, SLICE + 2 * SEALED_PLAIN
        status, hdrs, body = self.req("GET", "/s/" + link, headers={
            "X-Stratos-Password": "pw", "Range": "bytes=%d-%d" % (a, b)})
        self.assertEqual((status, body), (206, plain[a:b + 1]))
        status, _, body = self.req("GET", "/s/" + link, headers={"X-Stratos-Password": "nope"})
        self.expect_error(status, body, 403)
        status, _, body = self.req("GET", "/s/%s?password=nope" % link)
        self.expect_error(status, body, 403)
        status, _, body = self.req("GET", "/s/" + link)
        self.expect_error(status, body, 401)
        status, _, body = self.req("GET", "/s/" + "0" * 32)
        self.expect_error(status, body, 404)
        # Only the owner revokes it.
        status, _, body = self.req("DELETE", "/s/" + link,
                                   headers=stranger.header("DELETE", "/s/" + link, 0))
        self.assertIn(status, (401, 403, 404), body)
        status, _, body = self.req("GET", "/s/" + link, headers={"X-Stratos-Password": "pw"})
        self.assertEqual((status, body == plain), (200, True))

        # A link that expires after SHARE_EXPIRE_S: served until then, 410 after.
        sent_ms = time.time() * 1000
        share = self.share(fid, {"expire_s": SHARE_EXPIRE_S, "password": "pw"})
        link = share["link"]
        self.assertGreaterEqual(share["expires_ms"], sent_ms + SHARE_EXPIRE_S * 1000 - 1000)
        self.assertLessEqual(share["expires_ms"], time.time() * 1000 + SHARE_EXPIRE_S * 1000)
        if time.time() * 1000 < share["expires_ms"] - 500:
            status, _, body = self.req("GET", "/s/" + link, headers={"X-Stratos-Password": "pw"})
            if time.time() * 1000 < share["expires_ms"]:
                self.assertEqual((status, body == plain), (200, True), body[:300])
        wait_for("the link to expire (410)", lambda: self.req(
            "GET", "/s/" + link, headers={"X-Stratos-Password": "pw"})[0] == 410,
            SHARE_EXPIRE_S + 30, 0.5)
        self.assertGreaterEqual(time.time() * 1000, share["expires_ms"])
        status, _, body = self.req("GET", "/s/" + link, headers={"X-Stratos-Password": "pw",
                                                                  "Range": "bytes=0-9"})
        self.expect_error(status, body, 410)

        # A public file's link without a password or expiry, then revoked.
        data, pdoc, _ = self.standard_files()["slice1"]
        link = self.share(pdoc["id"], {})["link"]
        self.assertRegex(link, LINK_RE)
        status, hdrs, body = self.req("GET", "/s/" + link)
        self.assertEqual((status, body == data), (200, True))
        status, hdrs, body = self.req("GET", "/s/" + link, headers={"Range": "bytes=%d-"
                                                                   % SLICE})
        self.assertEqual((status, body), (206, data[SLICE:]))
        status, hdrs, body = self.req("HEAD", "/s/" + link)
        self.assertEqual((status, hdrs.get("Content-Length"), body), (200, str(len(data)), b""))
        status, _, body = self.req("DELETE", "/s/" + link)
        self.expect_error(status, body, 401)
        status, _, body = self.req("DELETE", "/s/" + link, headers=self.auth)
        self.assertEqual(status, 200, body)
        self.assertEqual(json_body(status, body), {"revoked": link})
        wait_for("the revoked link to answer 410",
                 lambda: self.req("GET", "/s/" + link)[0] == 410, 30, 0.5)

        # Deleting a file revokes its links; the same bytes uploaded again
        # do not bring them back.
        data = os.urandom(5000)
        doc, _ = self.put(data)
        link = self.share(doc["id"], {})["link"]
        status, _, body = self.req("GET", "/s/" + link)
        self.assertEqual((status, body == data), (200, True))
        status, _, body = self.req("DELETE", "/v1/files/" + doc["id"], headers=self.auth)
        self.assertEqual(status, 200, body)
        status, _, body = self.req("GET", "/s/" + link)
        self.expect_error(status, body, 410)
        self.put(data)
        status, _, body = self.req("GET", "/s/" + link)
        self.expect_error(status, body, 410)

    # -- bad input -----------------------------------------------------------

    def test_07_bad_input(self):
        body = b"x" * 100
        # Authorization: none, a wrong token, garbage, a bad signature.
        for h in ({}, {"Authorization": "Bearer " + "0" * 64},
                  {"Authorization": "Bearer"}, {"Authorization": "Basic YTpi"},
                  {"Authorization": "Stratos pubkey=zz"}):
            status, _, b = self.upload(body, auth=h)
            self.expect_error(status, b, 401)
        hdr = self.wallet.header("POST", "/v1/files", len(body))["Authorization"]
        bad = hdr[:-2] + ("00" if not hdr.endswith("00") else "11")
        status, _, b = self.upload(body, auth={"Authorization": bad})
        self.expect_error(status, b, 401)
        # Signed for another length, another path, too long ago.
        for h in (self.wallet.header("POST", "/v1/files", len(body) + 1),
                  self.wallet.header("POST", "/v1/other", len(body)),
                  self.wallet.header("POST", "/v1/files", len(body),
                                     time_ms=int(time.time() * 1000) - 11 * 60 * 1000),
                  self.wallet.header("POST", "/v1/files", len(body), chain_id="other-chain")):
            status, _, b = self.upload(body, auth=h)
            self.expect_error(status, b, 401)
        # A good signature of the node's wallet acts for that wallet.
        data = os.urandom(3000)
        before = self.balance()
        status, _, b = self.upload(data, name="signed.bin",
                                   auth=self.wallet.header("POST", "/v1/files", len(data)))
        self.assertEqual(status, 201, b)
        doc = json_body(status, b)
        self.assertEqual((doc["owner"], doc["id"]), (self.owner, file_id(data)))
        self.assertEqual(before - self.balance(), len(data) * REPLICAS * NOZ_PER_BYTE)
        status, _, got = self.download(doc["id"])
        self.assertEqual((status, got), (200, data))
        # A signed request acts once. The same request again with the same
        # bytes is a retry: the file is there (200, nothing charged); with
        # other bytes of the same length it is a replay: refused.
        hdr = self.wallet.header("POST", "/v1/files", len(data))
        other = os.urandom(len(data))
        status, _, b = self.upload(other, auth=hdr)
        self.assertEqual(status, 201, b)
        before = self.balance()
        status, _, b = self.upload(data, auth=hdr)
        self.assertEqual(status, 200, b)
        status, _, b = self.upload(os.urandom(len(data)), auth=hdr)
        self.expect_error(status, b, 401)
        self.assertIn("used already", json_body(status, b)["error"]["message"])
        self.assertEqual(self.balance(), before)
        # A signed DELETE replayed after the file came back changes nothing.
        path = "/v1/files/" + file_id(other)
        dele = self.wallet.header("DELETE", path, 0)
        status, _, b = self.req("DELETE", path, headers=dele)
        self.assertEqual(status, 200, b)
        self.put(other)
        status, _, b = self.req("DELETE", path, headers=dele)
        self.expect_error(status, b, 401)
        self.assertIn("used already", json_body(status, b)["error"]["message"])
        status, _, got = self.download(file_id(other))
        self.assertEqual((status, got), (200, other))

        # A wallet with no ozone: 402, and nothing recorded for it.
        poor = Wallet(os.urandom(32))
        self.assertEqual(self.balance(poor.address), 0)
        data = os.urandom(5000)
        status, _, b = self.upload(data, auth=poor.header("POST", "/v1/files", len(data)))
        self.expect_error(status, b, 402)
        self.assertEqual(self.listing(poor.address), [])
        status, _, b = self.download(file_id(data))
        self.expect_error(status, b, 404)

        before_list = [f["id"] for f in self.listing(self.owner)]
        before = self.balance()

        # Unknown and malformed ids.
        status, _, b = self.download("ab" * 32)
        self.expect_error(status, b, 404)
        status, _, b = self.req("GET", "/v1/files/%s/info" % ("cd" * 32))
        self.expect_error(status, b, 404)
        status, _, b = self.req("DELETE", "/v1/files/" + "ef" * 32, headers=self.auth)
        self.expect_error(status, b, 404)
        for bad_id in ("xyz", "a" * 63, "a" * 65, "g" * 64, "%00" + "a" * 61):
            status, _, b = self.download(bad_id)
            self.expect_error(status, b, 400)
            status, _, b = self.req("GET", "/v1/files/%s/info" % bad_id)
            self.expect_error(status, b, 400)
        for q in ("owner=nobody", "owner=%s&after=zz" % self.owner):
            status, _, b = self.req("GET", "/v1/files?" + q)
            self.expect_error(status, b, 400)

        # Bad names and replica counts.
        for name in ("../x", "a/b", "a\\b", "..", ".", "", "x" * 256, "a\tb"):
            with self.subTest(name=name):
                status, _, b = self.upload(b"abc", name=name)
                self.expect_error(status, b, 400)
        # A control character other than HTAB is no valid header byte: the
        # HTTP parser refuses the request before the file API sees it.
        for name in ("a\x01b", "a\x7fb"):
            status, _, b = self.upload(b"abc", name=name)
            self.assertEqual(status, 400, b)
        for reps in ("0", "99", str(REPLICAS_MAX + 1), "-1", "three", ""):
            with self.subTest(replicas=reps):
                status, _, b = self.upload(b"abc", headers={"X-Stratos-Replicas": reps})
                self.expect_error(status, b, 400)
        # Over max_file_bytes.
        s = socket.create_connection(("127.0.0.1", self.gw.gateway_port), timeout=120)
        try:
            s.sendall(("POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s"
                       "\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                       % (self.token, MAX_FILE + 1)).encode())
            zeros = bytes(MiB)
            left = MAX_FILE + 1
            try:
                while left:
                    s.sendall(zeros[:min(left, MiB)])
                    left -= min(left, MiB)
            except OSError:  # an answer before the whole body is fine too
                pass
            resp = http.client.HTTPResponse(s, method="POST")
            resp.begin()
            self.expect_error(resp.status, resp.read(), 413)
        finally:
            s.close()
        # Nothing above changed what the owner holds or pays.
        self.assertEqual([f["id"] for f in self.listing(self.owner)], before_list)
        self.assertEqual(self.balance(), before)

        # Garbage and huge ranges, per the Range rules.
        data, doc, _ = self.standard_files()["multi"]
        n = len(data)
        for value, want in (("bytes=abc", (416, "bytes */%d" % n)),
                            ("bytes=0-99999999999999999999999", (416, "bytes */%d" % n)),
                            ("bytes=%d-" % n, (416, "bytes */%d" % n)),
                            ("bytes=9-3", (416, "bytes */%d" % n)),
                            ("items=1-2", (200, None)),
                            ("bytes=0-9223372036854775807", (206, "bytes 0-%d/%d" % (n - 1, n))),
                            ("bytes=-9223372036854775807", (206, "bytes 0-%d/%d" % (n - 1, n))),
                            ("bytes=1-2,5-9", (200, None))):
            status, hdrs, b = self.download(doc["id"], {"Range": value})
            self.assertEqual((status, hdrs.get("Content-Range")), want, value)
            if status in (200, 206):
                self.assertEqual(b, data, value)

    def test_07b_short_body_closed_recorded_nowhere(self):
        """A body shorter than its Content-Length (the client stops
        sending and half-closes): the connection closes without an answer
        (docs/storage.md: the body is buffered whole before the handler
        runs), and nothing is recorded or charged."""
        before_list = [f["id"] for f in self.listing(self.owner)]
        before = self.balance()
        partial = os.urandom(SLICE + 1000)
        s = socket.create_connection(("127.0.0.1", self.gw.gateway_port), timeout=60)
        try:
            s.sendall(("POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s"
                       "\r\nContent-Length: %d\r\n\r\n" % (self.token, 3 * SLICE)).encode())
            s.sendall(partial)
            s.shutdown(socket.SHUT_WR)
            answer = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            except OSError:
                pass
        finally:
            s.close()
        h0 = self.gw.result("meta_status")["height"]
        wait_for("three more meta blocks",
                 lambda: self.gw.result("meta_status")["height"] >= h0 + 3, 30)
        self.assertEqual([f["id"] for f in self.listing(self.owner)], before_list)
        self.assertEqual(self.balance(), before)
        for cand in (partial, partial[:SLICE]):
            status, _, b = self.download(file_id(cand))
            self.expect_error(status, b, 404)
        self.assertEqual(answer, b"",
                         "POST /v1/files with Content-Length %d and %d bytes of body, then "
                         "a half-close: want the connection closed, got %r"
                         % (3 * SLICE, len(partial), answer[:300]))

    # -- holders killed -----------------------------------------------------

    def test_08_killed_holders_replaced(self):
        data = random.Random(88).randbytes(3 * SLICE + 7)
        doc, _ = self.put(data, name="survivor.bin")
        inf = self.info(doc["id"])
        # Kill a holder of every slice: the node that holds most, then the
        # next for the slices left (at most two nodes, so three stay up).
        left = list(range(len(inf["slices"])))
        dead = []
        while left and len(dead) < 2:
            counts = {}
            for k in left:
                for h in inf["slices"][k]["holders"]:
                    counts[self.node_index[h]] = counts.get(self.node_index[h], 0) + 1
            i = max(sorted(counts), key=lambda j: counts[j])
            dead.append(i)
            left = [k for k in left if self.net.specs[i]["node_id"]
                    not in inf["slices"][k]["holders"]]
        for i in dead:
            self.net.kill9(i)
        # The file downloads intact at once.
        t0 = time.monotonic()
        status, _, body = self.download(doc["id"])
        self.assertEqual(status, 200)
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertLess(time.monotonic() - t0, 30)
        status, _, body = self.download(doc["id"], {"Range": "bytes=%d-%d"
                                                    % (SLICE - 1, 2 * SLICE)})
        self.assertEqual((status, body), (206, data[SLICE - 1:2 * SLICE + 1]))
        # Once they are offline, every slice is back on three live nodes.
        dead_ids = {self.net.specs[i]["node_id"] for i in dead}

        def restored():
            cur = self.info(doc["id"])
            ok = all(len(set(s["holders"])) == REPLICAS and len(s["holders"]) == REPLICAS
                     and not dead_ids & set(s["holders"]) for s in cur["slices"])
            return cur if ok else None
        cur = wait_for("the replica target restored without nodes %s" % dead, restored,
                       OFFLINE_AFTER_MS / 1000 + 120, 1.0)
        self.check_holders(cur, data, dead=dead)
        status, _, body = self.download(doc["id"])
        self.assertEqual((status, body == data), (200, True))

    # -- the gateway killed mid-upload ----------------------------------------

    def test_09_gateway_killed_mid_upload(self):
        before_list = [f["id"] for f in self.listing(self.owner)]
        before = self.balance()
        total = 64 * MiB
        s = socket.create_connection(("127.0.0.1", self.gw.gateway_port), timeout=60)
        sent = 0
        try:
            s.sendall(("POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s"
                       "\r\nX-Stratos-Name: cut.bin\r\nContent-Length: %d\r\n\r\n"
                       % (self.token, total)).encode())
            chunk = os.urandom(MiB)
            while sent < total // 2:
                s.sendall(chunk)
                sent += len(chunk)
            self.net.kill9(0)
        finally:
            s.close()
        self.gw = type(self).gw = self.net.start(0)
        h0 = self.gw.result("meta_status")["height"]
        wait_for("the meta chain going on after the restart",
                 lambda: self.gw.result("meta_status")["height"] >= h0 + 3, 60)
        self.assertEqual([f["id"] for f in self.listing(self.owner)], before_list)
        self.assertEqual(self.balance(), before)
        # And it takes uploads again.
        data = os.urandom(1000)
        doc, charged = self.put(data, name="after.bin")
        self.assertEqual(charged, len(data) * REPLICAS * NOZ_PER_BYTE)
        status, _, body = self.download(doc["id"])
        self.assertEqual((status, body), (200, data))

    # -- a 1 GiB file ---------------------------------------------------------

    @unittest.skipUnless(BIG, "set STRATOS_BIG_TESTS=1 for the 1 GiB upload")
    def test_10_big_file(self):
        """A 1 GiB upload and download, streamed on both sides, with the
        gateway's memory bounded. Minutes under the sanitizers, so outside
        `make test`: run with STRATOS_BIG_TESTS=1."""
        total = 1 << 30
        seed = os.urandom(16)

        def chunk(k):  # deterministic 1 MiB pieces, so nothing is kept
            return hashlib.shake_256(seed + k.to_bytes(8, "big")).digest(MiB)
        before = self.balance()
        s = socket.create_connection(("127.0.0.1", self.gw.gateway_port), timeout=300)
        sha = hashlib.sha256()
        roots = []
        peak = 0
        try:
            s.sendall(("POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s"
                       "\r\nX-Stratos-Name: big.bin\r\nConnection: close\r\n"
                       "Content-Length: %d\r\n\r\n" % (self.token, total)).encode())
            for k in range(total // MiB):
                c = chunk(k)
                sha.update(c)
                roots += slice_roots(c)
                s.sendall(c)
                if k % 64 == 0:
                    peak = max(peak, anon_rss(self.gw.pid))
            resp = http.client.HTTPResponse(s, method="POST")
            resp.begin()
            body = resp.read()
        finally:
            s.close()
        self.assertEqual(resp.status, 201, body)
        doc = json_body(resp.status, body)
        head = b"stratos-file-v1" + struct.pack(">QI", total, SLICE)
        self.assertEqual(doc["id"], _h(0x0c, head + _merkle_root(roots)).hex())
        self.assertEqual(doc["slices"], total // SLICE)
        self.assertEqual(before - self.balance(), total * REPLICAS * NOZ_PER_BYTE)
        # The body may sit in a mapped temporary file (page cache); the
        # gateway's own memory must not grow with the file.
        self.assertLess(peak, 768 * MiB, "the gateway's memory grew with the file")
        c = http.client.HTTPConnection("127.0.0.1", self.gw.gateway_port, timeout=300)
        try:
            c.request("GET", "/v1/files/" + doc["id"])
            r = c.getresponse()
            if r.status != 200:
                raise AssertionError("GET of the 1 GiB file: %d %r" % (r.status, r.read(500)))
            got = hashlib.sha256()
            n = 0
            while True:
                b = r.read(MiB)
                if not b:
                    break
                got.update(b)
                n += len(b)
        finally:
            c.close()
        self.assertEqual((n, got.hexdigest()), (total, sha.hexdigest()))

    # -- a slice lost on every holder ---------------------------------------

    def test_11_lost_slice_answers_error_node_survives(self):
        """Every copy of one slice gone from the holders' disks: ranges
        elsewhere are served, ranges in it get a JSON error, a whole GET
        fails cleanly, and the gateway node stays up."""
        self.keep_gateway_up()
        data = random.Random(111).randbytes(3 * SLICE + 5)
        doc, _ = self.put(data, name="lost.bin")
        fid = doc["id"]
        inf = self.info(fid)
        lost = inf["slices"][1]
        for h in lost["holders"]:
            os.remove(self.slice_files(self.node_index[h])[lost["root"]])
        status, _, body = self.download(fid, {"Range": "bytes=10-19"})
        self.assertEqual((status, body), (206, data[10:20]))
        status, _, body = self.download(fid, {"Range": "bytes=%d-%d" % (SLICE + 5, SLICE + 9)})
        self.assertIn(status, (502, 503, 504), body[:300])
        self.expect_error(status, body, status)
        self.assertGatewayAlive("a range in the lost slice")
        try:
            status, _, body = self.download(fid)
            self.assertNotEqual((status, body), (200, data))
        except AssertionError as e:  # the stream cut where the slice is lost
            if "no HTTP response" not in str(e) and "IncompleteRead" not in str(e):
                raise
        self.assertGatewayAlive("GET of a file with a lost slice")
        mdata, mdoc, _ = self.standard_files()["multi"]
        status, _, body = self.download(mdoc["id"])
        self.assertEqual((status, body == mdata), (200, True))


HUGE_CASES = ["bytes=0-%d" % h for h in HUGE] + ["bytes=-%d" % h for h in HUGE] + \
             ["bytes=%d-" % h for h in HUGE]

VIDEO_PAGE = """<!DOCTYPE html>
<html><body><div id="result">pending</div>
<video id="v" muted playsinline preload="auto" src="@URL@"></video>
<script>
const v = document.getElementById('v'), out = document.getElementById('result');
const seen = [];
let finished = false;
function done(s) { if (!finished) { finished = true; out.textContent = s + ' ' + seen.join(' '); } }
v.addEventListener('error', () => done('ERROR code=' + (v.error && v.error.code)));
v.addEventListener('loadedmetadata', () => {
  seen.push('duration=' + v.duration.toFixed(2));
  v.play().then(() => {
    v.addEventListener('seeked', () => {
      const t0 = v.currentTime;
      seen.push('seeked=' + t0.toFixed(2));
      const check = () => {
        if (v.currentTime > t0 + 0.5) done('OK current=' + v.currentTime.toFixed(2));
        else setTimeout(check, 50);
      };
      check();
    }, {once: true});
    v.currentTime = v.duration / 2;
  }).catch(e => done('PLAYFAIL ' + e));
});
</script></body></html>
"""


if __name__ == "__main__":
    unittest.main()
