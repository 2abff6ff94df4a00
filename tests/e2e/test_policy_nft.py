"""Compiled policy rulesets against real packets (agent.md §5.5).

Two network namespaces joined by a veth pair stand in for two mesh nodes; the ruleset that
`policy-compile` produces for node B is loaded into B with `nft -f`, and TCP, UDP and ICMP
traffic between A and B is checked against the policy: allowed ports connect and replies flow
back, denied and unlisted ports time out (dropped, not refused), first match wins, ICMP echo
works only with visible peers. Needs root; skipped otherwise.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def compiler():
    cands = [os.environ.get("PLEXD_BUILD", ""), os.path.join(ROOT, "build-test"),
             os.path.join(ROOT, "build-policy")]
    for c in cands:
        p = os.path.join(c, "src", "policy", "policy-compile")
        if c and os.access(p, os.X_OK):
            return p
    return None


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, nftables)"),
    pytest.mark.skipif(compiler() is None, reason="policy-compile not built"),
    pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed"),
]


def sh(*cmd, check=True, input=None, timeout=30):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, input=input,
                          timeout=timeout)


SERVER = r"""
import socket, sys, threading, time
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(8)
    while True:
        c, _ = s.accept(); d = c.recv(100); c.sendall(b"echo:" + d); c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port))
    while True:
        d, a = s.recvfrom(100); s.sendto(b"echo:" + d, a)
for p in sys.argv[1].split(","):
    threading.Thread(target=tcp, args=(int(p),), daemon=True).start()
for p in sys.argv[2].split(","):
    if p: threading.Thread(target=udp, args=(int(p),), daemon=True).start()
print("ready", flush=True)
time.sleep(120)
"""

CLIENT = r"""
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if proto == "tcp":
        s = socket.create_connection((host, port), timeout=1.5); s.sendall(b"hi")
        print(s.recv(100).decode())
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
        s.sendto(b"hi", (host, port)); print(s.recv(100).decode())
except socket.timeout:
    print("timeout")
except OSError as e:
    print("error:" + type(e).__name__)
"""


class Pair:
    """Namespaces A (10.100.0.1) and B (10.100.0.2) joined by a veth pair."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.a, self.b = f"plexdtest-pa-{tag}", f"plexdtest-pb-{tag}"
        self.va, self.vb = f"pva{tag}", f"pvb{tag}"
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="plexd-pol-")
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        sh("ip", "link", "add", self.va, "netns", self.a, "type", "veth", "peer", "name",
           self.vb, "netns", self.b)
        for ns, dev, ip in ((self.a, self.va, "10.100.0.1"), (self.b, self.vb, "10.100.0.2")):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/16", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        sh("ip", "netns", "del", self.a, check=False)
        sh("ip", "netns", "del", self.b, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, ns, tcp_ports, udp_ports=""):
        p = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", SERVER,
                              tcp_ports, udp_ports], stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout.readline().strip() == "ready"

    def client(self, ns, proto, host, port):
        return sh("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", CLIENT, proto, host,
                  str(port)).stdout.strip()

    def ping(self, ns, host):
        return sh("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", host,
                  check=False).returncode == 0

    def load_policy(self, policies, default="deny"):
        nodes = {"local": {"id": "n_b", "mesh_ip": "10.100.0.2"},
                 "peers": [{"id": "n_a", "mesh_ip": "10.100.0.1"}],
                 "mesh_cidr": "10.100.0.0/16", "interface": self.vb, "default": default,
                 "log_denied": True, "mode": "node", "access_tcp": []}
        pf, nf = os.path.join(self.tmp, "p.json"), os.path.join(self.tmp, "n.json")
        with open(pf, "w") as f:
            json.dump(policies, f)
        with open(nf, "w") as f:
            json.dump(nodes, f)
        text = sh(compiler(), pf, nf).stdout
        # Replace atomically, as the daemon does.
        sh("ip", "netns", "exec", self.b, "nft", "-f", "-",
           input="add table inet plexd\ndelete table inet plexd\n" + text)
        return text

    def table_json(self):
        out = sh("ip", "netns", "exec", self.b, "nft", "-j", "list", "table", "inet", "plexd")
        return json.loads(out.stdout)["nftables"]


@pytest.fixture
def pair():
    p = Pair()
    try:
        yield p
    finally:
        p.close()


WEB = [{"id": "web", "rules": [
    {"src": "n_a", "dst": "n_b", "protocol": "tcp", "port": 8080, "action": "allow"},
    {"src": "n_a", "dst": "n_b", "protocol": "tcp", "port": 22, "action": "deny"},
    {"src": "n_a", "dst": "n_b", "protocol": "tcp", "port": 8443, "action": "allow"},
    # first match wins: the deny above shadows this for n_a
    {"src": "*", "dst": "n_b", "protocol": "tcp", "port": 22, "action": "allow"},
    {"src": "n_b", "dst": "n_a", "protocol": "udp", "port": 5353, "action": "allow"},
]}]


def test_allowed_denied_and_replies(pair):
    text = pair.load_policy(WEB)
    assert "vmap @in_0" in text  # the three n_a rules merged into one lookup
    pair.serve(pair.b, "8080,8443,22,9000")
    pair.serve(pair.a, "7000", "5353,5354")

    # allowed inbound: connects and the reply (outbound, conntrack) flows back
    assert pair.client(pair.a, "tcp", "10.100.0.2", 8080) == "echo:hi"
    assert pair.client(pair.a, "tcp", "10.100.0.2", 8443) == "echo:hi"
    # denied by rule, and not rescued by the later allow (first match wins): dropped
    assert pair.client(pair.a, "tcp", "10.100.0.2", 22) == "timeout"
    # no rule: default deny
    assert pair.client(pair.a, "tcp", "10.100.0.2", 9000) == "timeout"
    # outbound from B: only udp/5353 to A is allowed; its reply comes back. A drop in the
    # output hook surfaces locally as EPERM.
    assert pair.client(pair.b, "udp", "10.100.0.1", 5353) == "echo:hi"
    assert pair.client(pair.b, "udp", "10.100.0.1", 5354) == "error:PermissionError"
    assert pair.client(pair.b, "tcp", "10.100.0.1", 7000) in ("timeout", "error:PermissionError")
    # ICMP echo with a visible peer, both directions
    assert pair.ping(pair.a, "10.100.0.2")
    assert pair.ping(pair.b, "10.100.0.1")

    # per-rule counters: the 8080 and 22 elements of the map counted the SYNs
    maps = {o["map"]["name"]: o["map"] for o in pair.table_json() if "map" in o}
    counts = {}
    for key, verdict in maps["in_0"]["elem"]:
        val = key["elem"]["val"]["concat"]
        counts[(val[0], val[1], val[2])] = key["elem"]["counter"]["packets"]
    assert counts[("10.100.0.1", "tcp", 8080)] >= 1, counts
    assert counts[("10.100.0.1", "tcp", 22)] >= 1, counts
    assert counts[("10.100.0.1", "tcp", 8443)] >= 1, counts


def test_default_deny_without_policies_hides_everything(pair):
    pair.load_policy([])
    pair.serve(pair.b, "8080")
    assert pair.client(pair.a, "tcp", "10.100.0.2", 8080) == "timeout"
    # n_a is not visible: even ICMP echo is dropped
    assert not pair.ping(pair.a, "10.100.0.2")
    assert not pair.ping(pair.b, "10.100.0.1")


def test_default_allow_with_deny_rule(pair):
    pair.load_policy([{"id": "p", "rules": [
        {"src": "n_a", "dst": "n_b", "protocol": "tcp", "port": 22, "action": "deny"}]}],
        default="allow")
    pair.serve(pair.b, "22,8080")
    assert pair.client(pair.a, "tcp", "10.100.0.2", 8080) == "echo:hi"
    assert pair.client(pair.a, "tcp", "10.100.0.2", 22) == "timeout"
    assert pair.ping(pair.a, "10.100.0.2")


def test_other_interfaces_untouched(pair):
    pair.load_policy([])
    # loopback inside B is not the mesh interface: still open under default deny
    pair.serve(pair.b, "8081")
    assert pair.client(pair.b, "tcp", "127.0.0.1", 8081) == "echo:hi"
