"""The command line: version, init, keys, and the errors a user gets from
bad arguments and bad configuration files."""

import json
import os
import re
import stat
import unittest

import harness
from harness import ADDRESS_RE, NODE_ID_RE, run

# Flags that keep a start that wrongly succeeds off the default ports.
LOOPBACK = ["--rpc.laddr=127.0.0.1:0", "--gateway.laddr=127.0.0.1:0",
            "--p2p.laddr=127.0.0.1:0"]
FAIL_TIMEOUT = 10.0


def listed(out):
    """{name: address} from `keys list` output: a JSON list of objects, or
    one line per key holding its name and its address."""
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    keys = {}
    if isinstance(doc, list):
        for k in doc:
            keys[k.get("name")] = k.get("address")
        return keys
    for line in out.splitlines():
        addrs = ADDRESS_RE.findall(line)
        if len(addrs) == 1:
            names = [w for w in re.findall(r"[A-Za-z0-9_.-]+", line)
                     if w != addrs[0] and w.lower() not in ("name", "address")]
            if names:
                keys[names[0]] = addrs[0]
    return keys


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class VersionTest(unittest.TestCase):

    def test_version_prints_name_and_semver(self):
        rc, out, err = run(["version"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.splitlines()[0] if out else "",
                         r"^stratosd \d+\.\d+\.\d+\b")


class InitTest(unittest.TestCase):

    def test_init_creates_config_and_private_node_key(self):
        home = harness.new_home(self)
        rc, out, err = run(["init", "--home", home, "--moniker", "m"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, NODE_ID_RE)
        conf = os.path.join(home, "config", "stratosd.conf")
        key = os.path.join(home, "config", "node_key.json")
        self.assertTrue(os.path.isfile(conf), "no %s" % conf)
        self.assertGreater(os.path.getsize(conf), 0)
        self.assertTrue(os.path.isfile(key), "no %s" % key)
        self.assertEqual(mode(key), 0o600, "node_key.json mode %o" % mode(key))

    def test_init_twice_fails_and_keeps_the_node_key(self):
        home = harness.new_home(self)
        rc, out, err = run(["init", "--home", home, "--moniker", "m"])
        self.assertEqual(rc, 0, err)
        key = os.path.join(home, "config", "node_key.json")
        with open(key, "rb") as f:
            before = f.read()
        rc, out2, err2 = run(["init", "--home", home, "--moniker", "other"])
        self.assertEqual(rc, 1, out2 + err2)
        self.assertIn("already initialized", err2)
        with open(key, "rb") as f:
            self.assertEqual(f.read(), before, "second init changed the node key")

    def test_init_gives_each_home_its_own_node_id(self):
        _, id1 = harness.init_home(self)
        _, id2 = harness.init_home(self)
        self.assertNotEqual(id1, id2)


class KeysTest(unittest.TestCase):

    def setUp(self):
        self.home, _ = harness.init_home(self)

    def add(self, name):
        return run(["keys", "add", name, "--home", self.home])

    def test_keys_add_list_show(self):
        rc, out, err = self.add("alice")
        self.assertEqual(rc, 0, err)
        m = ADDRESS_RE.search(out)
        self.assertIsNotNone(m, "no st1 address in: %r" % out)
        addr = m.group(0)
        keyfile = os.path.join(self.home, "keyring", "alice.json")
        self.assertTrue(os.path.isfile(keyfile), "no %s" % keyfile)
        self.assertEqual(mode(keyfile), 0o600, "alice.json mode %o" % mode(keyfile))

        rc, out, err = self.add("bob")
        self.assertEqual(rc, 0, err)
        bob = ADDRESS_RE.search(out).group(0)
        self.assertNotEqual(bob, addr)

        rc, out, err = run(["keys", "list", "--home", self.home])
        self.assertEqual(rc, 0, err)
        self.assertEqual(listed(out), {"alice": addr, "bob": bob}, out)

        rc, out, err = run(["keys", "show", "alice", "--home", self.home])
        self.assertEqual(rc, 0, err)
        self.assertEqual(ADDRESS_RE.findall(out), [addr], out)

    def test_keys_add_existing_name_fails_and_keeps_key(self):
        rc, out, err = self.add("alice")
        self.assertEqual(rc, 0, err)
        addr = ADDRESS_RE.search(out).group(0)
        rc, out, err = self.add("alice")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("alice", err)
        rc, out, err = run(["keys", "show", "alice", "--home", self.home])
        self.assertEqual(rc, 0, err)
        self.assertIn(addr, out)

    def test_keys_add_bad_name_is_usage_error(self):
        rc, out, err = self.add("bad/name")
        self.assertEqual(rc, 2, out + err)
        self.assertTrue(err.strip(), "no message on stderr")
        self.assertFalse(os.path.exists(os.path.join(self.home, "bad")))
        self.assertFalse(os.path.exists(os.path.join(self.home, "keyring", "bad")))

    def test_keys_show_unknown_fails(self):
        rc, out, err = run(["keys", "show", "nobody", "--home", self.home])
        self.assertNotEqual(rc, 0, out)
        self.assertIn("nobody", err)


class UsageErrorTest(unittest.TestCase):

    def test_unknown_subcommand(self):
        rc, out, err = run(["frobnicate"], timeout=FAIL_TIMEOUT)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("frobnicate", err)

    def test_unknown_flag_on_init(self):
        home = harness.new_home(self)
        rc, out, err = run(["init", "--home", home, "--frobnicate"],
                           timeout=FAIL_TIMEOUT)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("--frobnicate", err)
        self.assertFalse(os.path.exists(os.path.join(home, "config")),
                         "a rejected init wrote a config")

    def test_unknown_flag_on_start(self):
        home, _ = harness.init_home(self)
        rc, out, err = run(["start", "--home", home, "--role=all", "--frobnicate"]
                           + LOOPBACK, timeout=FAIL_TIMEOUT)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("--frobnicate", err)

    def test_bad_role(self):
        home, _ = harness.init_home(self)
        rc, out, err = run(["start", "--home", home, "--role=bogus"] + LOOPBACK,
                           timeout=FAIL_TIMEOUT)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("bogus", err)


class StartConfigTest(unittest.TestCase):

    def start(self, home):
        return run(["start", "--home", home, "--role=all"] + LOOPBACK,
                   timeout=FAIL_TIMEOUT)

    def test_start_on_missing_home(self):
        home = harness.new_home(self)
        rc, out, err = self.start(home)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("not initialized", err)

    def test_start_on_empty_home(self):
        home = harness.new_home(self)
        os.makedirs(home)
        rc, out, err = self.start(home)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("not initialized", err)

    def write_conf(self, home, text):
        path = os.path.join(home, "config", "stratosd.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def assertNamesLine(self, err, line):
        self.assertIn("stratosd.conf", err)
        self.assertRegex(err, r"(stratosd\.conf:%d\b|\bline %d\b)" % (line, line))

    def test_bad_value_names_file_line_and_key(self):
        home, _ = harness.init_home(self)
        self.write_conf(home, "# edited\n\n[rpc]\nladdr = nonsense\n")
        rc, out, err = self.start(home)
        self.assertEqual(rc, 1, out + err)
        self.assertNamesLine(err, 4)
        self.assertIn("laddr", err)

    def test_bad_value_in_other_section(self):
        home, _ = harness.init_home(self)
        self.write_conf(home, "[gateway]\nladdr = 127.0.0.1:99999\n")
        rc, out, err = self.start(home)
        self.assertEqual(rc, 1, out + err)
        self.assertNamesLine(err, 2)
        self.assertIn("laddr", err)

    def test_unknown_key_is_named(self):
        home, _ = harness.init_home(self)
        self.write_conf(home, "[rpc]\nladdr = 127.0.0.1:0\nbogus_key = 1\n")
        rc, out, err = self.start(home)
        self.assertEqual(rc, 1, out + err)
        self.assertNamesLine(err, 3)
        self.assertIn("bogus_key", err)

    def test_unknown_section_is_named(self):
        home, _ = harness.init_home(self)
        self.write_conf(home, "[nosuchsection]\nx = 1\n")
        rc, out, err = self.start(home)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("stratosd.conf", err)
        self.assertIn("nosuchsection", err)


if __name__ == "__main__":
    unittest.main()
