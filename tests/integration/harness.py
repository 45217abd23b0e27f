"""Helpers for the integration tests: run real stratosd processes on
127.0.0.1 and talk to them over their real ports.

Everything a test opens is registered for cleanup on the test (or on the
test class) that opened it, so a failing test still leaves no process, no
socket and no directory behind. Only the Python standard library is used.
"""

import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

READY_TIMEOUT = 20.0
POLL_INTERVAL = 0.05
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0

BECH32_CHARS = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
NODE_ID_RE = re.compile(r"\bstsds1[%s]{6,}\b" % BECH32_CHARS)
ADDRESS_RE = re.compile(r"\bst1[%s]{6,}\b" % BECH32_CHARS)
READY_RE = re.compile(
    r"^ready rpc=(http://127\.0\.0\.1:(\d+)/) gateway=(http://127\.0\.0\.1:(\d+)/)[ \t]*$",
    re.M)
VERSION_RE = re.compile(r"^stratosd (\d+\.\d+\.\d+)\b")


# ---------------------------------------------------------------------------
# Binary, temporary directories, one-shot commands


def stratosd_bin():
    """Path of the stratosd binary under test, from $STRATOSD."""
    path = os.environ.get("STRATOSD")
    if not path:
        raise RuntimeError(
            "STRATOSD is not set: point it at the stratosd binary "
            "(ctest sets it; by hand: STRATOSD=build/stratosd)")
    if not os.path.isfile(path):
        raise RuntimeError("STRATOSD=%s: no such file" % path)
    if not os.access(path, os.X_OK):
        raise RuntimeError("STRATOSD=%s: not executable" % path)
    return os.path.abspath(path)


def tmp_root():
    """The directory temporary homes go into ($ST_TEST_TMP or the system
    temporary directory)."""
    root = os.environ.get("ST_TEST_TMP") or tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    return root


def _add_cleanup(owner, fn, *args):
    """Registers fn on a TestCase instance, or on a TestCase class (for
    things made in setUpClass)."""
    if isinstance(owner, type):
        owner.addClassCleanup(fn, *args)
    else:
        owner.addCleanup(fn, *args)


def new_tmpdir(owner, prefix="st-"):
    """A fresh empty directory under the test temporary root, removed when
    owner (a test or a test class) is cleaned up."""
    path = tempfile.mkdtemp(prefix=prefix, dir=tmp_root())
    _add_cleanup(owner, shutil.rmtree, path, True)
    return path


def new_home(owner, prefix="st-home-"):
    """A path for a node home that does not exist yet (its parent is a
    fresh temporary directory removed at cleanup)."""
    return os.path.join(new_tmpdir(owner, prefix), "home")


def _text(b):
    return b.decode("utf-8", errors="replace") if b is not None else ""


def tail(text, lines=30):
    return "\n".join(text.splitlines()[-lines:])


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run(args, timeout=20.0, env=None):
    """Runs `stratosd ARGS` to completion: returns (rc, stdout, stderr) as
    text. A command that does not finish in time is killed (with its whole
    process group) and the calling test fails."""
    cmd = [stratosd_bin()] + list(args)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(
            "`stratosd %s` did not exit within %.0f s\nstdout tail:\n%s\n"
            "stderr tail:\n%s" % (" ".join(args), timeout,
                                  tail(_text(out)), tail(_text(err))))
    finally:
        # Nothing the command started may outlive it.
        _killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, _text(out), _text(err)


def init_home(owner, moniker="itest"):
    """Runs `stratosd init` on a new home; returns (home, node_id)."""
    home = new_home(owner)
    rc, out, err = run(["init", "--home", home, "--moniker", moniker])
    if rc != 0:
        raise AssertionError("init failed rc=%s\nstdout:\n%s\nstderr:\n%s"
                             % (rc, out, err))
    m = NODE_ID_RE.search(out)
    if not m:
        raise AssertionError("init printed no node id (stsds1...):\n" + out)
    return home, m.group(0)


def cli_version():
    """X.Y.Z as printed by `stratosd version`."""
    rc, out, err = run(["version"])
    m = VERSION_RE.match(out)
    if rc != 0 or not m:
        raise AssertionError("`stratosd version` rc=%s stdout=%r stderr=%r"
                             % (rc, out, err))
    return m.group(1)


def is_sanitized():
    """True when the binary is built with AddressSanitizer."""
    if os.environ.get("ST_SANITIZED") == "1":
        return True
    try:
        with open(stratosd_bin(), "rb") as f:
            if b"__asan_init" in f.read():
                return True
    except OSError:
        pass
    try:
        out = subprocess.run(["ldd", stratosd_bin()], capture_output=True,
                             timeout=10).stdout
        return b"libasan" in out
    except (OSError, subprocess.SubprocessError):
        return False


# ---------------------------------------------------------------------------
# Ports


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hold_port(owner):
    """Binds and listens on a free 127.0.0.1 port, keeping it busy until
    owner is cleaned up. Returns the port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _add_cleanup(owner, s.close)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s.getsockname()[1]


# ---------------------------------------------------------------------------
# HTTP


def http_request(url, method="GET", path=None, body=None, headers=None,
                 timeout=HTTP_TIMEOUT, chunk_size=None):
    """One HTTP/1.1 request on a fresh connection; returns (status,
    headers, body bytes). With chunk_size the body is sent with chunked
    transfer encoding. A server that answers before reading the whole body
    and closes is fine: the answer is still read."""
    u = urllib.parse.urlsplit(url)
    host, port = u.hostname, u.port
    target = path if path is not None else (u.path or "/")
    hdrs = {"Host": "%s:%d" % (host, port), "Connection": "close",
            "User-Agent": "stratosd-itest"}
    hdrs.update(headers or {})
    if body is not None:
        if chunk_size:
            hdrs["Transfer-Encoding"] = "chunked"
            parts = []
            for i in range(0, len(body), chunk_size):
                piece = body[i:i + chunk_size]
                parts.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
            parts.append(b"0\r\n\r\n")
            payload = b"".join(parts)
        else:
            hdrs.setdefault("Content-Length", str(len(body)))
            payload = body
    else:
        payload = b""
    head = "%s %s HTTP/1.1\r\n" % (method, target)
    head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        send_error = None
        try:
            sock.sendall(head.encode("latin-1") + payload)
        except OSError as e:  # the server may answer early and close
            send_error = e
        resp = http.client.HTTPResponse(sock, method=method)
        try:
            resp.begin()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise AssertionError(
                "%s %s: no HTTP response (%r; sending: %r)"
                % (method, url, e, send_error))
        return resp.status, resp.headers, data
    finally:
        sock.close()


def json_body(status, body):
    try:
        return json.loads(body)
    except ValueError:
        raise AssertionError("HTTP %s: body is not JSON: %r"
                             % (status, body[:500]))


# ---------------------------------------------------------------------------
# A stratosd node


class Node:
    """A running `stratosd start` (or `stratosd dev`) on 127.0.0.1 with
    kernel-chosen ports. Its stdout and stderr go to files in its home.
    The node is killed when owner (a test or test class) is cleaned up."""

    _serial = 0

    def __init__(self, owner, home, roles="all", extra=(), mode="start",
                 ready_timeout=READY_TIMEOUT, wait_ready=True):
        self.home = home
        self.mode = mode
        self.proc = None
        self.rpc_url = self.gateway_url = None
        self.rpc_port = self.gateway_port = None
        self.returncode = None
        extra = list(extra)
        cmd = [stratosd_bin(), mode, "--home", home]
        if mode == "start" and roles:
            cmd.append("--role=" + roles)
        for flag in ("--rpc.laddr", "--gateway.laddr", "--p2p.laddr"):
            if not any(a.startswith(flag) for a in extra):
                cmd.append(flag + "=127.0.0.1:0")
        self.cmd = cmd + extra

        os.makedirs(home, exist_ok=True)
        Node._serial += 1
        base = os.path.join(home, "stratosd-%d-%d" % (os.getpid(), Node._serial))
        self.stdout_path = base + ".stdout"
        self.stderr_path = base + ".stderr"
        # Read back through our own descriptors: that keeps working even if
        # the node deletes its home (dev --reset).
        self._out = open(self.stdout_path, "w+b")
        self._err = open(self.stderr_path, "w+b")
        _add_cleanup(owner, self._cleanup)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err,
                                     start_new_session=True)
        self.pid = self.proc.pid
        if wait_ready:
            self.wait_ready(ready_timeout)

    # -- output ------------------------------------------------------------

    @staticmethod
    def _read(f):
        fd = f.fileno()
        return _text(os.pread(fd, os.fstat(fd).st_size, 0))

    def stdout_text(self):
        return self._read(self._out)

    def stderr_text(self):
        return self._read(self._err)

    def describe(self):
        return ("command: %s\nstdout tail:\n%s\nstderr tail:\n%s"
                % (" ".join(self.cmd), tail(self.stdout_text()),
                   tail(self.stderr_text())))

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            m = READY_RE.search(self.stdout_text())
            if m:
                self.rpc_url, self.gateway_url = m.group(1), m.group(3)
                self.rpc_port, self.gateway_port = int(m.group(2)), int(m.group(4))
                if self.rpc_port == 0 or self.gateway_port == 0:
                    raise AssertionError("ready line shows port 0, not the "
                                         "bound port\n" + self.describe())
                return
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise AssertionError("stratosd exited with %s before it was "
                                     "ready\n%s" % (rc, self.describe()))
            if time.monotonic() > deadline:
                raise AssertionError("no ready line on stdout within %.0f s "
                                     "(is stdout flushed?)\n%s"
                                     % (timeout, self.describe()))
            time.sleep(POLL_INTERVAL)

    # -- process -----------------------------------------------------------

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig):
        """Sends sig to the node process."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for the node to exit; returns its exit status (negative
        signal number when killed). Fails the test if it does not exit."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("stratosd (pid %d) did not exit within "
                                 "%.0f s\n%s" % (self.proc.pid, timeout,
                                                 self.describe()))
        return self.returncode

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL if the node has not exited in time.
        Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        _killpg(self.proc.pid, signal.SIGKILL)
        self.returncode = self.proc.returncode
        return self.returncode

    def rss_bytes(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    kb = line.split()[1]
                    return int(kb) * 1024
        raise AssertionError("no VmRSS in /proc/%d/status" % self.proc.pid)

    def _cleanup(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                _killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            # Anything the node started dies with it.
            _killpg(self.proc.pid, signal.SIGKILL)
        self._out.close()
        self._err.close()

    # -- HTTP --------------------------------------------------------------

    def rpc_raw(self, body, headers=None, method="POST", chunk_size=None):
        """Sends body (bytes) to the JSON-RPC port; returns (status,
        headers, body)."""
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        return http_request(self.rpc_url, method, body=body, headers=hdrs,
                            chunk_size=chunk_size)

    def rpc(self, method, params=None, id=1):
        """One JSON-RPC 2.0 call; returns the parsed response object."""
        req = {"jsonrpc": "2.0", "method": method, "id": id}
        if params is not None:
            req["params"] = params
        status, _, body = self.rpc_raw(json.dumps(req).encode())
        return json_body(status, body)

    def result(self, method, params=None):
        """The result of a call that must succeed."""
        resp = self.rpc(method, params)
        if "result" not in resp:
            raise AssertionError("%s: no result: %r" % (method, resp))
        return resp["result"]

    def get(self, path, headers=None, method="GET"):
        """A request on the gateway; returns (status, headers, body)."""
        return http_request(self.gateway_url, method, path=path,
                            headers=headers)

    def metrics(self):
        status, headers, body = self.get("/metrics")
        if status != 200:
            raise AssertionError("/metrics answered %d: %r" % (status, body[:300]))
        return parse_prometheus(_text(body))


class NodeTestCase(unittest.TestCase):
    """Base class with assertion helpers shared by the node tests."""

    def assertRpcError(self, resp, code, id):
        self.assertIsInstance(resp, dict, resp)
        self.assertEqual(resp.get("jsonrpc"), "2.0", resp)
        self.assertIn("id", resp, resp)
        self.assertEqual(resp["id"], id, resp)
        self.assertIs(type(resp["id"]), type(id), resp)
        self.assertNotIn("result", resp, resp)
        err = resp.get("error")
        self.assertIsInstance(err, dict, resp)
        self.assertEqual(err.get("code"), code, resp)
        self.assertIsInstance(err.get("message"), str, resp)
        self.assertTrue(err["message"], resp)

    def assertRpcResult(self, resp, id):
        self.assertIsInstance(resp, dict, resp)
        self.assertEqual(resp.get("jsonrpc"), "2.0", resp)
        self.assertEqual(resp.get("id"), id, resp)
        self.assertIs(type(resp.get("id")), type(id), resp)
        self.assertNotIn("error", resp, resp)
        self.assertIn("result", resp, resp)
        return resp["result"]

    def assertHealthy(self, node):
        self.assertTrue(node.alive(), "node died\n" + node.describe())
        resp = node.rpc("health", id=424242)
        self.assertEqual(self.assertRpcResult(resp, 424242), {})


# ---------------------------------------------------------------------------
# Prometheus text exposition format, version 0.0.4


class PromParseError(ValueError):
    pass


_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_NAME_RE = re.compile(_NAME)
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_FLOAT_RE = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity|nan))\Z")
_TS_RE = re.compile(r"-?\d+\Z")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _parse_float(s, lineno):
    if not _FLOAT_RE.match(s):
        raise PromParseError("line %d: bad value %r" % (lineno, s))
    return float(s)


def _unescape(s, allowed, lineno):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in allowed:
                raise PromParseError("line %d: bad escape in %r" % (lineno, s))
            out.append("\n" if s[i + 1] == "n" else s[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _parse_labels(line, i, lineno):
    """Parses {a="x",b="y"} starting at line[i] == '{'; returns (labels,
    index after '}')."""
    labels = {}
    i += 1
    blanks = " \t"
    while True:
        while i < len(line) and line[i] in blanks:
            i += 1
        if i < len(line) and line[i] == "}":
            return labels, i + 1
        m = _LABEL_NAME_RE.match(line, i)
        if not m:
            raise PromParseError("line %d: bad label name at column %d: %r"
                                 % (lineno, i + 1, line))
        name = m.group(0)
        i = m.end()
        while i < len(line) and line[i] in blanks:
            i += 1
        if line[i:i + 1] != "=":
            raise PromParseError("line %d: expected = after label %s: %r"
                                 % (lineno, name, line))
        i += 1
        while i < len(line) and line[i] in blanks:
            i += 1
        if line[i:i + 1] != '"':
            raise PromParseError("line %d: expected \" after %s=: %r"
                                 % (lineno, name, line))
        i += 1
        start = i
        while True:
            if i >= len(line):
                raise PromParseError("line %d: unterminated label value: %r"
                                     % (lineno, line))
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                break
            i += 1
        value = _unescape(line[start:i], '\\"n', lineno)
        i += 1
        if name in labels:
            raise PromParseError("line %d: label %s twice" % (lineno, name))
        if name.startswith("__"):
            raise PromParseError("line %d: reserved label name %s" % (lineno, name))
        labels[name] = value
        while i < len(line) and line[i] in blanks:
            i += 1
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        if i < len(line) and line[i] == "}":
            return labels, i + 1
        raise PromParseError("line %d: expected , or } in labels: %r"
                             % (lineno, line))


def parse_prometheus(text):
    """Parses a Prometheus text exposition (format 0.0.4) strictly.

    Returns {family: {"type": str, "help": str or None,
                      "samples": [(name, {label: value}, float)]}}.
    Raises PromParseError on anything malformed: a bad metric or label
    name, bad label syntax or escape, an unparsable value or timestamp, a
    second HELP or TYPE, a TYPE after the family's samples, a family whose
    lines are split into two groups, a repeated series, a sample that does
    not fit its family's type, a negative counter, an inconsistent
    histogram, or text not ending in a newline."""
    if text and not text.endswith("\n"):
        raise PromParseError("exposition does not end with a newline")
    fams = {}
    current = None
    finished = set()
    seen_series = set()

    def family(name, lineno):
        nonlocal current
        if name != current:
            if name in fams or name in finished:
                raise PromParseError(
                    "line %d: lines of family %s are split into two groups"
                    % (lineno, name))
            if current is not None:
                finished.add(current)
            current = name
        if name not in fams:
            fams[name] = {"type": None, "help": None, "samples": []}
        return fams[name]

    def family_of(sample_name):
        if sample_name in fams and fams[sample_name]["type"] not in ("histogram",):
            return sample_name
        for suffix, kinds in (("_bucket", ("histogram",)),
                              ("_sum", ("histogram", "summary")),
                              ("_count", ("histogram", "summary"))):
            if sample_name.endswith(suffix):
                base = sample_name[:-len(suffix)]
                if base in fams and fams[base]["type"] in kinds:
                    return base
        return sample_name

    for lineno, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line == "":
            continue
        if line[0] in " \t":
            raise PromParseError("line %d: leading whitespace: %r" % (lineno, line))
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[0] == "#" and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not _NAME_RE.fullmatch(parts[2]):
                    raise PromParseError("line %d: bad metric name in %r"
                                         % (lineno, line))
                name = parts[2]
                fam = family(name, lineno)
                if parts[1] == "HELP":
                    if fam["help"] is not None:
                        raise PromParseError("line %d: second HELP for %s"
                                             % (lineno, name))
                    m = re.match(r"# HELP %s(?: (.*))?\Z" % re.escape(name), line)
                    if not m:
                        raise PromParseError("line %d: bad HELP line %r"
                                             % (lineno, line))
                    fam["help"] = _unescape(m.group(1) or "", "\\n", lineno)
                else:
                    if len(parts) != 4 or parts[3] not in _TYPES or \
                            line != "# TYPE %s %s" % (name, parts[3]):
                        raise PromParseError("line %d: bad TYPE line %r"
                                             % (lineno, line))
                    if fam["samples"]:
                        raise PromParseError("line %d: TYPE for %s after its "
                                             "samples" % (lineno, name))
                    if fam["type"] is not None:
                        raise PromParseError("line %d: second TYPE for %s"
                                             % (lineno, name))
                    fam["type"] = parts[3]
            continue
        m = _NAME_RE.match(line)
        if not m:
            raise PromParseError("line %d: bad metric name: %r" % (lineno, line))
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, lineno)
        rest = line[i:]
        if not rest or rest[0] not in " \t":
            raise PromParseError("line %d: expected a blank before the value: %r"
                                 % (lineno, line))
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise PromParseError("line %d: expected value [timestamp]: %r"
                                 % (lineno, line))
        value = _parse_float(fields[0], lineno)
        if len(fields) == 2 and not _TS_RE.match(fields[1]):
            raise PromParseError("line %d: bad timestamp %r" % (lineno, fields[1]))
        fname = family_of(name)
        fam = family(fname, lineno)
        if fam["type"] is None:
            fam["type"] = "untyped"
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise PromParseError("line %d: series %s%s repeated"
                                 % (lineno, name, labels))
        seen_series.add(key)
        t = fam["type"]
        if t in ("counter", "gauge", "untyped") and name != fname:
            raise PromParseError("line %d: sample %s in %s family %s"
                                 % (lineno, name, t, fname))
        if t == "counter" and (value < 0 or math.isnan(value)):
            raise PromParseError("line %d: counter %s is %r" % (lineno, name, value))
        if t == "histogram":
            if name == fname + "_bucket":
                if "le" not in labels:
                    raise PromParseError("line %d: bucket without le" % lineno)
                _parse_float(labels["le"], lineno)
            elif name in (fname + "_sum", fname + "_count"):
                if "le" in labels:
                    raise PromParseError("line %d: le on %s" % (lineno, name))
            else:
                raise PromParseError("line %d: sample %s in histogram %s"
                                     % (lineno, name, fname))
        if t == "summary" and name == fname and "quantile" not in labels:
            raise PromParseError("line %d: summary sample without quantile"
                                 % lineno)
        fam["samples"].append((name, labels, value))

    for fname, fam in fams.items():
        if fam["type"] is None:
            fam["type"] = "untyped"
        if fam["type"] == "histogram":
            _check_histogram(fname, fam["samples"])
    return fams


def _check_histogram(fname, samples):
    series = {}
    for name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            s["buckets"].append((float(labels["le"]), value))
        elif name.endswith("_sum"):
            s["sum"] = value
        else:
            s["count"] = value
    if not series:
        raise PromParseError("histogram %s has no samples" % fname)
    for rest, s in series.items():
        where = "%s%s" % (fname, dict(rest))
        if s["sum"] is None or s["count"] is None:
            raise PromParseError("histogram %s lacks _sum or _count" % where)
        buckets = sorted(s["buckets"])
        if not buckets or buckets[-1][0] != math.inf:
            raise PromParseError("histogram %s has no +Inf bucket" % where)
        prev = 0.0
        for le, v in buckets:
            if v < prev:
                raise PromParseError("histogram %s buckets not cumulative" % where)
            prev = v
        if buckets[-1][1] != s["count"]:
            raise PromParseError("histogram %s: +Inf bucket %r != _count %r"
                                 % (where, buckets[-1][1], s["count"]))


def samples(fams, family, name=None, **labels):
    """The samples of family whose name is name (default: the family name)
    and whose labels include the given ones."""
    if family not in fams:
        raise AssertionError("metric family %s missing (have: %s)"
                             % (family, ", ".join(sorted(fams))))
    name = name or family
    return [s for s in fams[family]["samples"]
            if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())]
