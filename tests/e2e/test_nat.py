"""NAT traversal end to end (agent.md §5.2, §5.21.2): real kernel NAT in network namespaces.

Topology (prefix pxn<random>, removed afterwards):

    pub   bridge "internet" 203.0.113.0/24: coturn STUN servers on .1 and .2 (STUN only),
          the relay on .3
    open  node with a public address 203.0.113.50                       -> none
    rc    router, nft masquerade (endpoint-independent, port-preserving) -> full_cone
          WAN 203.0.113.11, LAN 10.1.0.1/24, node "nc" 10.1.0.2
    rs1   router, nft masquerade fully-random (per-destination ports)   -> symmetric
          WAN 203.0.113.12, LAN 10.2.0.1/24, node "ns1" 10.2.0.2
    rs2   like rs1: WAN 203.0.113.13, LAN 10.3.0.1/24, node "ns2" 10.3.0.2

Nodes run build/src/nat/nat-probe (the real src/nat discovery, raw sockets, while a UDP socket
holds the listen port as WireGuard would) and a small UDP agent for relay traffic; the relay is
build/src/bridge/relay-run. Needs root, nft and /usr/bin/turnserver (coturn).
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import time

import pytest

LISTEN_PORT = 51820
RELAY_PORT = 52000
STUN1 = "203.0.113.1"
STUN2 = "203.0.113.2"
RELAY_IP = "203.0.113.3"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

AGENT = r"""
import socket, sys, select
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
for line in sys.stdin:
    w = line.split()
    if w[0] == "send":
        s.sendto(bytes.fromhex(w[3]) if len(w) > 3 else b"", (w[1], int(w[2])))
        print("sent", flush=True)
    elif w[0] == "recv":
        r, _, _ = select.select([s], [], [], float(w[1]))
        if not r:
            print("timeout", flush=True)
        else:
            data, src = s.recvfrom(65535)
            print("got %s %d %s" % (src[0], src[1], data.hex()), flush=True)
"""


def sh(*cmd, check=True, timeout=20):
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True)


class Lab:
    def __init__(self, build):
        self.build = build
        self.prefix = "pxn" + secrets.token_hex(3)
        self.namespaces = []
        self.procs = []

    def ns(self, name):
        return f"{self.prefix}-{name}"

    def add_ns(self, name):
        ns = self.ns(name)
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def ip(self, name, *args):
        return sh("ip", "-n", self.ns(name), *args)

    def exec(self, name, *cmd, **kw):
        return sh("ip", "netns", "exec", self.ns(name), *cmd, **kw)

    def spawn(self, name, *cmd, stdin=None):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(name), *cmd], stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def veth(self, a, a_if, b, b_if):
        tmp_a, tmp_b = f"{self.prefix}a{len(self.procs)}{a_if}"[:15], f"{self.prefix}b{b_if}"[:15]
        sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        sh("ip", "link", "set", tmp_a, "netns", self.ns(a), "name", a_if)
        sh("ip", "link", "set", tmp_b, "netns", self.ns(b), "name", b_if)
        self.ip(a, "link", "set", a_if, "up")
        self.ip(b, "link", "set", b_if, "up")

    def attach_pub(self, name, ifname, addr):
        """Connects namespace name to the pub bridge with addr/24 on ifname."""
        port = f"p-{name}"[:15]
        self.veth(name, ifname, "pub", port)
        self.ip("pub", "link", "set", port, "master", "br0")
        self.ip(name, "addr", "add", f"{addr}/24", "dev", ifname)

    def router(self, name, wan_addr, lan_net, node, nat_stmt):
        self.add_ns(name)
        self.add_ns(node)
        self.attach_pub(name, "wan", wan_addr)
        self.veth(name, "lan", node, "eth0")
        self.ip(name, "addr", "add", f"{lan_net}.1/24", "dev", "lan")
        self.ip(node, "addr", "add", f"{lan_net}.2/24", "dev", "eth0")
        self.ip(node, "route", "add", "default", "via", f"{lan_net}.1")
        self.exec(name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ruleset = (f"table ip pxnat {{\n chain post {{\n  type nat hook postrouting priority srcnat;\n"
                   f"  oifname \"wan\" {nat_stmt}\n }}\n}}\n")
        p = subprocess.run(["ip", "netns", "exec", self.ns(name), "nft", "-f", "-"], input=ruleset,
                           text=True, capture_output=True, timeout=10)
        assert p.returncode == 0, p.stderr

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def build():
    b = os.environ.get("PLEXD_BUILD") or os.path.join(os.path.dirname(__file__), "..", "..", "build-test")
    for tool in ("src/nat/nat-probe", "src/bridge/relay-run"):
        if not os.path.isfile(os.path.join(b, tool)):
            pytest.skip(f"{tool} not built in {b} (tests enabled?)")
    for prog in ("/usr/bin/turnserver", "nft"):
        if not shutil.which(prog):
            pytest.skip(f"{prog} missing")
    return b


@pytest.fixture(scope="module")
def lab(build, tmp_path_factory):
    lab = Lab(build)
    tmp = tmp_path_factory.mktemp("nat")
    try:
        lab.add_ns("pub")
        lab.ip("pub", "link", "add", "br0", "type", "bridge")
        lab.ip("pub", "link", "set", "br0", "up")
        lab.ip("pub", "addr", "add", f"{STUN1}/24", "dev", "br0")
        lab.ip("pub", "addr", "add", f"{STUN2}/24", "dev", "br0")
        lab.ip("pub", "addr", "add", f"{RELAY_IP}/24", "dev", "br0")
        lab.add_ns("open")
        lab.attach_pub("open", "eth0", "203.0.113.50")
        lab.router("rc", "203.0.113.11", "10.1.0", "nc", "masquerade")
        lab.router("rs1", "203.0.113.12", "10.2.0", "ns1", "masquerade fully-random")
        lab.router("rs2", "203.0.113.13", "10.3.0", "ns2", "masquerade fully-random")
        for i, addr in enumerate((STUN1, STUN2)):
            lab.spawn("pub", "/usr/bin/turnserver", "-n", "--no-cli", "-S", "-L", addr, "-p", "3478",
                      "--no-tls", "--no-dtls", "--pidfile", str(tmp / f"turn{i}.pid"),
                      "-l", str(tmp / f"turn{i}.log"), "--simple-log", "--no-stdout-log")
        # Ready when a probe from the open node gets an answer from both.
        deadline = time.monotonic() + 15
        while True:
            out = probe(lab, "open", timeout_ms=1000, check=False)
            if out and out[0].get("nat_type") == "none":
                break
            assert time.monotonic() < deadline, f"STUN servers did not come up: {out}"
            time.sleep(0.3)
        yield lab
    finally:
        lab.cleanup()


def probe(lab, node, timeout_ms=2000, cycles=1, refresh_ms=60000, check=True, port=LISTEN_PORT):
    p = lab.exec(node, os.path.join(lab.build, "src/nat/nat-probe"), "--port", str(port),
                 "--server", f"{STUN1}:3478", "--server", f"{STUN2}:3478", "--hold",
                 "--transport", "raw", "--timeout-ms", str(timeout_ms), "--cycles", str(cycles),
                 "--refresh-ms", str(refresh_ms), check=False, timeout=60)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    if check:
        assert p.returncode == 0, p.stderr
        assert len(lines) == cycles, p.stdout + p.stderr
    return lines


def test_public_node_is_none(lab):
    r = probe(lab, "open")[0]
    assert r == {"error": 0, "endpoint": f"203.0.113.50:{LISTEN_PORT}", "nat_type": "none", "changed": True}


def test_endpoint_independent_nat_is_full_cone(lab):
    r = probe(lab, "nc")[0]
    assert r["nat_type"] == "full_cone"
    # Port-preserving masquerade: the router's address with the listen port, not the node's.
    assert r["endpoint"] == f"203.0.113.11:{LISTEN_PORT}"


def test_random_mapping_nat_is_symmetric(lab):
    r = probe(lab, "ns1")[0]
    assert r["nat_type"] == "symmetric"
    ip, port = r["endpoint"].split(":")
    assert ip == "203.0.113.12"


def test_single_server_is_unknown(lab):
    p = lab.exec("nc", os.path.join(lab.build, "src/nat/nat-probe"), "--port", "51830", "--hold",
                 "--server", f"{STUN1}:3478", "--server", "203.0.113.99:3478", "--transport", "raw",
                 "--timeout-ms", "1000", check=False, timeout=30)
    r = json.loads(p.stdout.splitlines()[0])
    assert r["nat_type"] == "unknown" and r["endpoint"] == "203.0.113.11:51830"


def test_mapping_change_detected_on_refresh(lab):
    """The router's public address changes (the masquerade conntrack entries are flushed with it):
    the next refresh reports the new endpoint as changed."""
    nat_probe = os.path.join(lab.build, "src/nat/nat-probe")
    p = lab.spawn("nc", nat_probe, "--port", "51840", "--hold", "--server", f"{STUN1}:3478",
                  "--server", f"{STUN2}:3478", "--transport", "raw", "--timeout-ms", "2000",
                  "--cycles", "3", "--refresh-ms", "3000")
    first = json.loads(p.stdout.readline())
    assert first["endpoint"] == "203.0.113.11:51840" and first["changed"]
    second = json.loads(p.stdout.readline())  # unchanged refresh
    assert second["endpoint"] == first["endpoint"] and not second["changed"]
    lab.ip("rc", "addr", "del", "203.0.113.11/24", "dev", "wan")
    lab.ip("rc", "addr", "add", "203.0.113.21/24", "dev", "wan")
    try:
        third = json.loads(p.stdout.readline())
        assert p.wait(timeout=10) == 0
        assert third == {"error": 0, "endpoint": "203.0.113.21:51840", "nat_type": "full_cone",
                         "changed": True}
    finally:
        subprocess.run(["ip", "-n", lab.ns("rc"), "addr", "del", "203.0.113.21/24", "dev", "wan"],
                       capture_output=True)
        subprocess.run(["ip", "-n", lab.ns("rc"), "addr", "add", "203.0.113.11/24", "dev", "wan"],
                       capture_output=True)


class Agent:
    def __init__(self, lab, node, port):
        self.p = lab.spawn(node, "/usr/bin/python3", "-u", "-c", AGENT, str(port), stdin=subprocess.PIPE)
        assert self.p.stdout.readline().strip() == "ready"

    def send(self, ip, port, data):
        self.p.stdin.write(f"send {ip} {port} {data.hex()}\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "sent"

    def recv(self, timeout=2.0):
        self.p.stdin.write(f"recv {timeout}\n")
        self.p.stdin.flush()
        w = self.p.stdout.readline().split()
        if w[0] == "timeout":
            return None
        return w[1], int(w[2]), bytes.fromhex(w[3]) if len(w) > 3 else b""

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=5)


def test_relay_between_symmetric_nats(lab):
    # What the CP would know: each node's STUN endpoint (E7). Behind symmetric NAT the relay
    # sees other ports, which address latching handles.
    ep1 = probe(lab, "ns1", port=51850)[0]
    ep2 = probe(lab, "ns2", port=51850)[0]
    assert ep1["nat_type"] == ep2["nat_type"] == "symmetric"
    relay = lab.spawn("pub", os.path.join(lab.build, "src/bridge/relay-run"), "--bind", RELAY_IP,
                      "--listen-port", "51821", "--port-base", str(RELAY_PORT), "--max-sessions", "4",
                      "--session", f"s1,{ep1['endpoint']},{ep2['endpoint']},{RELAY_PORT}")
    assert relay.stdout.readline().strip() == "ready"
    a = Agent(lab, "ns1", 51850)
    b = Agent(lab, "ns2", 51850)
    spoof = Agent(lab, "open", 51850)
    try:
        # Both open their NAT towards the relay; A's first datagram goes to B's stale STUN
        # mapping and dies at B's router, B's reaches A (A's mapping to the relay exists).
        a.send(RELAY_IP, RELAY_PORT, b"hello from a")
        b.send(RELAY_IP, RELAY_PORT, b"hello from b")
        got = a.recv()
        assert got == (RELAY_IP, RELAY_PORT, b"hello from b")
        # Now both directions, random payloads of WireGuard-like sizes, byte-identical.
        for size in (32, 148, 92, 1452, 1, 0x500):
            m = secrets.token_bytes(size)
            a.send(RELAY_IP, RELAY_PORT, m)
            assert b.recv() == (RELAY_IP, RELAY_PORT, m)
            m = secrets.token_bytes(size)
            b.send(RELAY_IP, RELAY_PORT, m)
            assert a.recv() == (RELAY_IP, RELAY_PORT, m)
        # Unknown source: dropped, neither peer sees it.
        spoof.send(RELAY_IP, RELAY_PORT, b"spoofed")
        spoof.send(RELAY_IP, 51821, b"spoofed shared")
        assert a.recv(0.5) is None
        assert b.recv(0.5) is None
    finally:
        a.close()
        b.close()
        spoof.close()
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=10)
    status = json.loads(out.strip().splitlines()[-1])
    assert status["active_sessions"] == 1
    assert status["dropped_packets"] == 2
    s = status["sessions"][0]
    assert s["packets_a_to_b"] == 7 and s["packets_b_to_a"] == 7
    # The relay latched both peers to their real (relay-facing) mappings.
    assert s["peer_a"].startswith("203.0.113.12:") and s["peer_b"].startswith("203.0.113.13:")
    assert s["peer_a"] != ep1["endpoint"] and s["peer_b"] != ep2["endpoint"]


SNIFF = r"""
import socket, sys, time, select
ifname, port, pattern, secs = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
print("ready", flush=True)
seen = leaked = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    r, _, _ = select.select([s], [], [], 0.1)
    if not r:
        continue
    f = s.recv(65535)
    if len(f) < 42 or f[12:14] != b"\x08\x00" or f[23] != 17:
        continue
    ihl = (f[14] & 15) * 4
    udp = f[14 + ihl:]
    sport, dport = int.from_bytes(udp[0:2], "big"), int.from_bytes(udp[2:4], "big")
    if port in (sport, dport):
        seen += 1
        if pattern in udp[8:]:
            leaked += 1
print(seen, leaked, flush=True)
"""


def test_wireguard_go_through_relay(lab):
    """Real wireguard-go on two nodes behind symmetric NATs; discovery runs from the port
    wireguard-go holds (raw socket path), the nodes then reach each other only through the relay,
    and the relay's traffic never contains the plaintext ping pattern."""
    if not shutil.which("wireguard-go") or not shutil.which("wg"):
        pytest.skip("wireguard-go/wg missing")
    port = 51860
    nodes = {"ns1": ("10.99.0.1",), "ns2": ("10.99.0.2",)}
    keys = {}
    for node in nodes:
        priv = sh("wg", "genkey").stdout.strip()
        pub = subprocess.run(["wg", "pubkey"], input=priv, text=True, capture_output=True).stdout.strip()
        keys[node] = (priv, pub)
    ifs = {n: f"{lab.prefix[-5:]}{n}" for n in nodes}
    wg = []
    try:
        for node in nodes:
            wg.append(lab.spawn(node, "wireguard-go", "-f", ifs[node]))
        for node, (addr,) in nodes.items():
            deadline = time.monotonic() + 10
            while subprocess.run(["ip", "-n", lab.ns(node), "link", "show", ifs[node]],
                                 capture_output=True).returncode != 0:
                assert time.monotonic() < deadline, "wireguard-go did not create its interface"
                time.sleep(0.1)
            keyfile = f"/tmp/.{lab.prefix}-{node}.key"
            with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(keys[node][0])
            try:
                lab.exec(node, "wg", "set", ifs[node], "private-key", keyfile, "listen-port", str(port))
            finally:
                os.unlink(keyfile)
            lab.ip(node, "addr", "add", f"{addr}/24", "dev", ifs[node])
            lab.ip(node, "link", "set", ifs[node], "up")

        # STUN from the port wireguard-go holds (no --hold: the real owner is there).
        eps = {}
        for node in nodes:
            p = lab.exec(node, os.path.join(lab.build, "src/nat/nat-probe"), "--port", str(port),
                         "--server", f"{STUN1}:3478", "--server", f"{STUN2}:3478", "--transport", "raw",
                         "--timeout-ms", "2000", check=False, timeout=30)
            r = json.loads(p.stdout.splitlines()[0])
            assert r["nat_type"] == "symmetric", r
            eps[node] = r["endpoint"]

        relay = lab.spawn("pub", os.path.join(lab.build, "src/bridge/relay-run"), "--bind", RELAY_IP,
                          "--port-base", str(RELAY_PORT), "--max-sessions", "4",
                          "--session", f"wg1,{eps['ns1']},{eps['ns2']},{RELAY_PORT + 1}")
        assert relay.stdout.readline().strip() == "ready"
        pattern = "c0ffee00deadbeef"
        sniff = lab.spawn("pub", "/usr/bin/python3", "-u", "-c", SNIFF, "br0", str(RELAY_PORT + 1),
                          bytes.fromhex(pattern).hex(), "12")
        assert sniff.stdout.readline().strip() == "ready"

        # What the CP's peer_endpoint_changed would do: both peers point at the relay.
        for node, other in (("ns1", "ns2"), ("ns2", "ns1")):
            lab.exec(node, "wg", "set", ifs[node], "peer", keys[other][1], "endpoint",
                     f"{RELAY_IP}:{RELAY_PORT + 1}", "allowed-ips", f"{nodes[other][0]}/32",
                     "persistent-keepalive", "1")
        ok = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not ok:
            ok = lab.exec("ns1", "ping", "-c", "1", "-W", "1", "-p", pattern, "-s", "64", "10.99.0.2",
                          check=False).returncode == 0
        assert ok, "no ping through the relay"
        p = lab.exec("ns1", "ping", "-c", "5", "-i", "0.2", "-p", pattern, "10.99.0.2", check=False)
        assert p.returncode == 0, p.stdout
        seen, leaked = map(int, sniff.communicate(timeout=20)[0].split())
        assert seen > 0 and leaked == 0
        relay.send_signal(signal.SIGTERM)
        out, _ = relay.communicate(timeout=10)
        s = json.loads(out.strip().splitlines()[-1])["sessions"][0]
        assert s["packets_a_to_b"] > 5 and s["packets_b_to_a"] > 5
    finally:
        for p in wg:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=5)
