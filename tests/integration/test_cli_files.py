"""The file commands of the command line: `stratosd put`, `get`, `ls`,
`rm` and `share` against a real gateway, as a user runs them.

A localnet of one validator that is also the meta authority (its gateway
serves the file API, docs/storage.md) and two resource nodes, with 1 MiB
slices. Files of several sizes (the empty one among them) come back byte
for byte through -o and through stdout; ls shows them; rm makes get fail
with the gateway's message; a share link serves the file; the token of
the home, the gateway address of its config and a keyring wallet's
signature (--from) all work; mistakes on the command line exit 2 and
missing homes, tokens, files or gateways exit 1 with a sentence that
names them. The progress bar shows on a terminal only."""

import json
import os
import pty
import random
import re
import select
import shutil
import signal
import subprocess
import time
import unittest

import harness
from harness import NodeTestCase, run
from localnet import Localnet

KiB = 1 << 10
MiB = 1 << 20
SLICE = MiB
REPLICAS = 2                # params.meta.replicas_default
N_RESOURCE = 2
CMD_TIMEOUT = 180.0
ID_RE = re.compile(r"^[0-9a-f]{64}$")
ERROR_RE = re.compile(r"^stratosd: \S.* \(HTTP (\d{3})\)$", re.M)
# 0 bytes, 1 byte, a block and one more, one slice exactly, several
# slices with a short last one.
SIZES = [0, 1, 256 * KiB + 1, SLICE, 3 * SLICE + 12345]


def storage_genesis(g):
    """The validator is also the meta authority; short storage parameters
    and two replicas, as many as there are resource nodes."""
    v = g["validators"][0]
    g.setdefault("meta_nodes", []).insert(0, {
        "pub_key": v["pub_key"], "owner": g["accounts"][0]["address"],
        "deposit": "1000000000000000000000", "network_address": "127.0.0.1:1",
        "moniker": "gateway"})
    g["params"]["meta"] = {
        "offline_after_ms": 4000, "heartbeat_interval_ms": 500,
        "slice_size": SLICE, "replicas_default": REPLICAS, "replicas_min": 1,
        "replicas_max": N_RESOURCE, "upload_noz_per_byte": 1,
        "max_file_bytes": 64 * MiB, "gc_grace_ms": 1000}


def wait_for(what, fn, timeout, interval=0.25):
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


def run_bytes(args, timeout=CMD_TIMEOUT, stderr=None):
    """Runs `stratosd ARGS`; returns (rc, stdout bytes, stderr text). With
    stderr (a file descriptor) the command's stderr goes there instead
    and the text returned is empty."""
    cmd = [harness.stratosd_bin()] + list(args)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=stderr if stderr is not None else subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("`stratosd %s` did not exit within %.0f s"
                             % (" ".join(args), timeout))
    return proc.returncode, out, (err or b"").decode("utf-8", "replace")


class CliFilesTest(NodeTestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.new_tmpdir(cls, "st-clif-")
        cls.net = Localnet(cls, validators=1, resource=N_RESOURCE,
                           genesis_edit=storage_genesis)
        cls.net.specs[0]["roles"] = ["value", "meta"]
        cls.net.start_all()
        cls.gw = cls.net.nodes[0]
        cls.home = cls.net.specs[0]["home"]
        cls.owner = cls.net.specs[0]["wallet"]["address"]
        cls.url = cls.gw.gateway_url.rstrip("/")
        token_path = os.path.join(cls.home, "config", "api_token")
        wait_for("the gateway's api_token", lambda: os.path.isfile(token_path), 20)
        ids = {cls.net.specs[i]["node_id"] for i in range(1, 1 + N_RESOURCE)}

        def online():
            st = cls.gw.result("resource_status", {})["resource_nodes"]
            return ids <= {n["address"] for n in st if n["mining_status"] == "online"}
        wait_for("resource nodes online", online, 60)
        rc, out, err = run(
            ["tx", "prepay", "--amount", "100stos", "--home", cls.home, "--from", "wallet",
             "--mode", "commit", "--rpc", cls.gw.rpc_url], timeout=120)
        if rc != 0:
            raise AssertionError("prepay failed rc=%d\n%s\n%s" % (rc, out, err))
        wait_for("the prepay credited", lambda: int(cls.gw.result(
            "ozone_balance", {"address": cls.owner})["balance"]) > 0, 60)
        cls.rng = random.Random(7)

    # -- helpers -----------------------------------------------------------

    def cli(self, *args, gateway=True, home=None):
        """Runs a file command with --gateway and --home of the gateway
        node unless told otherwise; returns (rc, stdout bytes, stderr)."""
        extra = ["--home", home or self.home]
        if gateway:
            extra += ["--gateway", self.gw.gateway_url]
        return run_bytes(list(args) + extra)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def put(self, data, name="f.bin", *flags):
        path = self.write(name, data)
        rc, out, err = self.cli("put", path, *flags)
        self.assertEqual(rc, 0, "put %d bytes: %s\n%s" % (len(data), err, self.gw.describe()))
        lines = out.decode().splitlines()
        self.assertEqual(len(lines), 1, out)
        self.assertRegex(lines[0], ID_RE)
        return lines[0], err

    def assertGatewayError(self, rc, out, err, status):
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, b"", out[:200])
        m = ERROR_RE.search(err)
        self.assertIsNotNone(m, "no 'stratosd: <message> (HTTP %d)' in %r" % (status, err))
        self.assertEqual(int(m.group(1)), status, err)

    # -- round trips -------------------------------------------------------

    def test_put_get_round_trip_sizes(self):
        for size in SIZES:
            with self.subTest(size=size):
                data = self.rng.randbytes(size)
                fid, err = self.put(data, "rt-%d.bin" % size)
                # The summary: the size, the slices and the replicas.
                slices = (size + SLICE - 1) // SLICE
                self.assertRegex(err, r"\b%d bytes, %d slices?, %d replicas?\b.*MB/s"
                                 % (size, slices, REPLICAS))
                out_path = os.path.join(self.tmp, "rt-%d.out" % size)
                rc, out, err = self.cli("get", fid, "-o", out_path)
                self.assertEqual(rc, 0, err)
                self.assertEqual(out, b"")
                with open(out_path, "rb") as f:
                    self.assertTrue(f.read() == data, "get -o: the bytes differ")
                self.assertFalse(os.path.exists(out_path + ".part"))
                rc, out, err = self.cli("get", fid)
                self.assertEqual(rc, 0, err)
                self.assertTrue(out == data, "get to stdout: %d bytes, want %d"
                                % (len(out), len(data)))
                # The same bytes again: the same id, nothing charged.
                rc, out, err = self.cli("put", os.path.join(self.tmp, "rt-%d.bin" % size))
                self.assertEqual(rc, 0, err)
                self.assertEqual(out.decode().strip(), fid)
                self.assertIn("already stored", err)

    def test_private_file_round_trip(self):
        data = self.rng.randbytes(600 * KiB)
        fid, err = self.put(data, "secret.bin", "--encrypt", "--replicas", "1")
        self.assertIn("private", err)
        self.assertRegex(err, r"\b1 replica\b")
        rc, out, err = self.cli("get", fid)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out == data, "the owner's get gives other bytes")
        # Without the owner's token nobody reads it.
        status, _, _ = harness.http_request(self.gw.gateway_url, path="/v1/files/" + fid)
        self.assertEqual(status, 403)

    def test_name_and_content_type(self):
        fid, _ = self.put(b"<p>hi</p>", "page.html")
        status, headers, body = harness.http_request(self.gw.gateway_url,
                                                     path="/v1/files/" + fid)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"<p>hi</p>")
        self.assertTrue(headers["Content-Type"].startswith("text/html"), headers)
        self.assertIn('filename="page.html"', headers["Content-Disposition"])
        fid, _ = self.put(b"other bytes", "x.bin", "--name", "report 1.txt",
                          "--content-type", "text/x-report")
        status, headers, _ = harness.http_request(self.gw.gateway_url, path="/v1/files/" + fid)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/x-report"), headers)
        self.assertIn('filename="report 1.txt"', headers["Content-Disposition"])
        fid, _ = self.put(b"\x00\x01", "noext")
        _, headers, _ = harness.http_request(self.gw.gateway_url, path="/v1/files/" + fid)
        self.assertTrue(headers["Content-Type"].startswith("application/octet-stream"), headers)

    # -- ls, rm, share -----------------------------------------------------

    def listing(self, *flags):
        rc, out, err = self.cli("ls", *flags)
        self.assertEqual(rc, 0, err)
        rows = {}
        for line in out.decode().splitlines():
            cols = line.split("\t")
            self.assertEqual(len(cols), 4, line)
            self.assertRegex(cols[0], ID_RE)
            self.assertRegex(cols[3], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            rows[cols[0]] = (int(cols[1]), cols[2], cols[3])
        return rows

    def test_ls_shows_the_file(self):
        data = self.rng.randbytes(12345)
        fid, _ = self.put(data, "listed.bin", "--name", "listed file.bin")
        rows = self.listing()
        self.assertIn(fid, rows)
        self.assertEqual(rows[fid][:2], (12345, "listed file.bin"))
        year = time.gmtime().tm_year
        self.assertTrue(rows[fid][2].startswith(str(year)) or
                        rows[fid][2].startswith(str(year - 1)), rows[fid])
        self.assertEqual(self.listing("--owner", self.owner), rows)
        # Another wallet holds nothing.
        rc, out, _ = run(["keys", "add", "other", "--home", self.home])
        self.assertEqual(rc, 0)
        other = harness.ADDRESS_RE.search(out).group(0)
        self.assertEqual(self.listing("--owner", other), {})

    def test_rm_then_get_fails(self):
        data = self.rng.randbytes(3000)
        fid, _ = self.put(data, "doomed.bin")
        rc, out, err = self.cli("rm", fid)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode(), fid + "\n")
        self.assertNotIn(fid, self.listing())
        out_path = os.path.join(self.tmp, "doomed.out")
        rc, out, err = self.cli("get", fid, "-o", out_path)
        self.assertGatewayError(rc, out, err, 404)
        self.assertFalse(os.path.exists(out_path))
        self.assertFalse(os.path.exists(out_path + ".part"))
        rc, out, err = self.cli("rm", fid)
        self.assertGatewayError(rc, out, err, 404)

    def test_share_prints_a_url_that_serves_the_file(self):
        data = self.rng.randbytes(70000)
        fid, _ = self.put(data, "shared.bin")
        rc, out, err = self.cli("share", fid)
        self.assertEqual(rc, 0, err)
        link = out.decode().strip()
        self.assertRegex(link, r"^%s/s/[0-9a-f]{32}$" % re.escape(self.url))
        status, _, body = harness.http_request(link)
        self.assertEqual(status, 200)
        self.assertTrue(body == data, "the link serves other bytes")
        # With a password and an expiry.
        rc, out, err = self.cli("share", fid, "--password", "s3cret", "--expire", "3600")
        self.assertEqual(rc, 0, err)
        link = out.decode().strip()
        self.assertRegex(link, r"^%s/s/[0-9a-f]{32}$" % re.escape(self.url))
        self.assertIn("expires", err)
        self.assertEqual(harness.http_request(link)[0], 401)
        status, _, body = harness.http_request(link, headers={"X-Stratos-Password": "s3cret"})
        self.assertEqual(status, 200)
        self.assertTrue(body == data)
        # A private file's link carries its key, and serves the plaintext.
        fid, _ = self.put(data[:5000], "private-shared.bin", "--encrypt")
        rc, out, err = self.cli("share", fid)
        self.assertEqual(rc, 0, err)
        link = out.decode().strip()
        self.assertRegex(link, r"^%s/s/[0-9a-f]{32}-[0-9a-f]{64}$" % re.escape(self.url))
        status, _, body = harness.http_request(link)
        self.assertEqual(status, 200)
        self.assertTrue(body == data[:5000])
        # No such file.
        rc, out, err = self.cli("share", "ab" * 32)
        self.assertGatewayError(rc, out, err, 404)

    # -- how the client finds the gateway and authorizes -------------------

    def test_gateway_from_the_home_config(self):
        data = b"found through config/stratosd.conf"
        path = self.write("conf.txt", data)
        rc, out, err = self.cli("put", path, gateway=False)
        self.assertEqual(rc, 0, err)
        fid = out.decode().strip()
        rc, out, err = self.cli("get", fid, gateway=False)
        self.assertEqual((rc, out), (0, data), err)

    def test_from_signs_with_a_keyring_wallet(self):
        data = self.rng.randbytes(4000)
        path = self.write("signed.bin", data)
        rc, out, err = self.cli("put", path, "--from", "wallet")
        self.assertEqual(rc, 0, err)
        fid = out.decode().strip()
        self.assertRegex(fid, ID_RE)
        rc, out, err = self.cli("share", fid, "--from", "wallet", "--expire", "60")
        self.assertEqual(rc, 0, err)
        self.assertEqual(harness.http_request(out.decode().strip())[2], data)
        self.assertIn(fid, self.listing("--from", "wallet"))
        rc, out, err = self.cli("rm", fid, "--from", "wallet")
        self.assertEqual((rc, out.decode()), (0, fid + "\n"), err)
        # A wallet with no ozone is refused by the gateway, not by the client.
        rc, _, _ = run(["keys", "add", "poor", "--home", self.home])
        rc, out, err = self.cli("put", path, "--from", "poor")
        self.assertGatewayError(rc, out, err, 402)
        # An unknown keyring name.
        rc, out, err = self.cli("put", path, "--from", "nobody")
        self.assertEqual(rc, 1, err)
        self.assertIn("nobody.json", err)

    def test_bad_token_is_the_gateways_401(self):
        home = harness.new_tmpdir(self, "st-clif-home-")
        os.makedirs(os.path.join(home, "config"))
        with open(os.path.join(home, "config", "api_token"), "w") as f:
            f.write("0" * 64 + "\n")
        path = self.write("t.bin", b"token")
        rc, out, err = self.cli("put", path, home=home)
        self.assertGatewayError(rc, out, err, 401)
        rc, out, err = self.cli("rm", "ab" * 32, home=home)
        self.assertGatewayError(rc, out, err, 401)

    def test_gateway_refusals_are_reported(self):
        path = self.write("r.bin", b"replicas")
        rc, out, err = self.cli("put", path, "--replicas", str(N_RESOURCE + 1))
        self.assertGatewayError(rc, out, err, 400)
        rc, out, err = self.cli("get", "cd" * 32)
        self.assertGatewayError(rc, out, err, 404)

    # -- progress ----------------------------------------------------------

    def test_progress_bar_on_a_terminal_only(self):
        data = self.rng.randbytes(2 * MiB + 7)
        path = self.write("progress.bin", data)
        rc, out, err = self.cli("put", path)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("\r", err)
        self.assertNotIn("%", err)
        fid = out.decode().strip()
        master, slave = pty.openpty()
        try:
            out_path = os.path.join(self.tmp, "progress.out")
            rc, out, _ = run_bytes(["get", fid, "-o", out_path, "--home", self.home,
                                    "--gateway", self.gw.gateway_url], stderr=slave)
            os.close(slave)
            slave = -1
            tty = b""
            while select.select([master], [], [], 0.5)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                tty += chunk
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
        self.assertEqual(rc, 0, tty)
        text = tty.decode("utf-8", "replace")
        self.assertIn("\r[", text)
        self.assertIn("100%", text)
        self.assertIn("MB/s", text)
        self.assertRegex(text, r"100%[^\r]*\r?\n")
        with open(out_path, "rb") as f:
            self.assertTrue(f.read() == data)


class CliFilesOfflineTest(unittest.TestCase):
    """What the client decides before it reaches any gateway."""

    def assertUsage(self, args, needle):
        rc, out, err = run_bytes(args, timeout=20)
        self.assertEqual(rc, 2, "%s: rc %d\n%s" % (args, rc, err))
        self.assertEqual(out, b"", args)
        self.assertTrue(err.startswith("stratosd: "), err)
        self.assertIn(needle, err)

    def test_usage_errors(self):
        fid = "ab" * 32
        cases = [
            (["put"], "usage: stratosd put FILE"),
            (["put", "a", "b"], "unexpected argument b"),
            (["put", "f", "--replicas", "0"], "--replicas"),
            (["put", "f", "--replicas", "two"], "--replicas"),
            (["put", "f", "--name", "a/b"], "--name"),
            (["put", "f", "--frobnicate"], "--frobnicate"),
            (["put", "f", "--gateway", "localhost:1"], "--gateway"),
            (["put", "f", "--from", "../x"], "--from"),
            (["get"], "usage: stratosd get ID"),
            (["get", "not-an-id"], "not-an-id"),
            (["get", fid, "--encrypt"], "--encrypt"),
            (["get", fid, "-o"], "-o"),
            (["ls", "x"], "unexpected argument x"),
            (["ls", "--owner", "nobody"], "nobody"),
            (["rm"], "usage: stratosd rm ID"),
            (["rm", fid, fid], "unexpected argument"),
            (["share", fid, "--expire", "0"], "--expire"),
            (["share", fid, "--expire", "-5"], "--expire"),
            (["share", fid, "--password"], "--password"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                self.assertUsage(args, needle)
        # The usage line on request.
        rc, out, err = run_bytes(["put", "--help"], timeout=20)
        self.assertEqual(rc, 0, err)
        self.assertIn(b"stratosd put FILE", out)
        rc, out, _ = run_bytes(["help"], timeout=20)
        for cmd in (b"put FILE", b"get ID", b"ls", b"rm ID", b"share ID"):
            self.assertIn(b"stratosd " + cmd, out)

    def test_missing_home_token_file_or_gateway(self):
        tmp = harness.new_tmpdir(self, "st-clif-")
        path = os.path.join(tmp, "m.bin")
        with open(path, "wb") as f:
            f.write(b"missing")
        some_id = "ab" * 32
        # No home at all.
        nowhere = os.path.join(tmp, "nohome")
        rc, out, err = run_bytes(["put", path, "--home", nowhere], timeout=20)
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn(nowhere, err)
        self.assertIn("--home", err)
        # A home whose gateway never started: no token.
        home, _ = harness.init_home(self)
        token = os.path.join(home, "config", "api_token")
        for args in (["put", path], ["rm", some_id], ["share", some_id]):
            rc, out, err = run_bytes(args + ["--home", home], timeout=20)
            self.assertEqual((rc, out), (1, b""), err)
            self.assertIn(token, err)
        # A token that is not one.
        with open(token, "w") as f:
            f.write("not a token\n")
        rc, out, err = run_bytes(["put", path, "--home", home], timeout=20)
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn(token, err)
        with open(token, "w") as f:
            f.write("0" * 64 + "\n")
        # No such file to put, or not a file.
        dead = "http://127.0.0.1:%d" % harness.free_port()
        rc, out, err = run_bytes(["put", os.path.join(tmp, "absent.bin"), "--home", home,
                                  "--gateway", dead], timeout=20)
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn("absent.bin", err)
        rc, out, err = run_bytes(["put", tmp, "--home", home, "--gateway", dead], timeout=20)
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn("not a regular file", err)
        # No gateway there: the message names its URL.
        for args in (["put", path], ["get", some_id], ["ls"], ["rm", some_id],
                     ["share", some_id]):
            rc, out, err = run_bytes(args + ["--home", home, "--gateway", dead], timeout=20)
            self.assertEqual((rc, out), (1, b""), err)
            self.assertIn(dead, err)
        # -o is not written when the get fails.
        out_path = os.path.join(tmp, "never.out")
        rc, out, err = run_bytes(["get", some_id, "-o", out_path, "--home", home, "--gateway",
                                  dead], timeout=20)
        self.assertEqual(rc, 1, err)
        self.assertFalse(os.path.exists(out_path))
        self.assertFalse(os.path.exists(out_path + ".part"))


if __name__ == "__main__":
    unittest.main()
