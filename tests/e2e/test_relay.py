"""Relay assignment end to end: plexcp + real plexd nodes behind real kernel NATs.

Topology (namespaces prefixed px r<random>, removed afterwards):

    hub      bridge br0 "internet" 172.31.250.0/24: plexcp and coturn STUN on .1, STUN on .2
    bridge   plexd in bridge mode with the relay (.10, public: NAT type none)
    ra, rb   routers with `masquerade fully-random` (symmetric)   WAN .21/.22, nodes a, b behind
    rc, rd   full cone routers: port-preserving `masquerade` and the WireGuard port forwarded
             to the node                                        WAN .23/.24, nodes c, d behind

plexcp sees a and b report `symmetric` (E7) and routes the pair through the bridge's relay
(relay_session_assigned to the bridge, peer_endpoint_changed with relayed endpoints to a and b);
c and d connect directly. Then a's router becomes a full cone (port-preserving masquerade plus a
port forward, conntrack flushed): a's next STUN refresh reports it, plexcp withdraws the relay and
a and b talk directly. Finally c's public address changes (NAT rebinding) and d follows.
Needs root, nft, coturn (/usr/bin/turnserver), wireguard-go and wg.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

import plexlab
from plexlab import run, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

NET = plexlab.UNDERLAY  # 172.31.250
STUN1, STUN2 = f"{NET}.1", f"{NET}.2"
BRIDGE_IP = f"{NET}.10"
PORT_BASE = 52000
# node -> (router WAN address, LAN /24 prefix, nft NAT statement, full cone). A full cone is a
# port-preserving masquerade plus a forward of the WireGuard port (endpoint-independent mapping
# and filtering). Masquerade alone filters by endpoint, and crossing first packets leave an
# inbound conntrack entry that makes the router pick another source port for the node's own
# packets, so two such nodes would never meet.
ROUTERS = {
    "a": (f"{NET}.21", "10.21.0", "masquerade fully-random", False),
    "b": (f"{NET}.22", "10.22.0", "masquerade fully-random", False),
    "c": (f"{NET}.23", "10.23.0", "masquerade", True),
    "d": (f"{NET}.24", "10.24.0", "masquerade", True),
}


class RelayNode(plexlab.Node):
    """A plexd node with two STUN servers (classification needs both) and optional bridge mode."""

    bridge = False

    def write_config(self, extra=""):
        os.makedirs(self.dir, exist_ok=True)
        bridge = ""
        if self.bridge:
            bridge = f"""mode: bridge
bridge:
  relay:
    enabled: true
    session_port_base: {PORT_BASE}
    max_sessions: 8
"""
        cfg = f"""api: http://{self.lab.hub_addr}:{self.lab.cp_port}
log_level: debug
data_dir: {self.data_dir}
hostname: {self.name}
{bridge}api_client:
  allow_insecure_http: true
token:
  file: {self.token_file}
mesh:
  interface: {self.ifname}
  listen_port: 51820
  backend: userspace
  persistent_keepalive: 2s
reconcile:
  interval: 10s
heartbeat:
  interval: 5s
nat_traversal:
  enabled: true
  stun_servers: [{STUN1}:3478, {STUN2}:3478]
  refresh_interval: 10s
  timeout: 2s
actions:
  socket: {self.control_socket}
node_api:
  socket: {self.api_socket}
access:
  ssh:
    enabled: false
logs:
  enabled: false
audit:
  enabled: false
observe:
  enabled: false
integrity:
  enabled: false
{extra}"""
        with open(self.config_path, "w") as f:
            f.write(cfg)
        os.chmod(self.config_path, 0o600)


def nft_ruleset(router_ns, text):
    p = subprocess.run(["ip", "netns", "exec", router_ns, "nft", "-f", "-"], input=text, text=True,
                       capture_output=True, timeout=10)
    assert p.returncode == 0, p.stderr


def nat_table(stmt, dnat_to=None):
    pre = ""
    if dnat_to:
        # A port forward for the WireGuard port: endpoint-independent filtering, a real full cone.
        pre = (" chain pre {\n  type nat hook prerouting priority dstnat;\n"
               f"  iifname \"wan\" udp dport 51820 dnat to {dnat_to}\n }}\n")
    return (f"table ip pxrelay {{\n{pre} chain post {{\n  type nat hook postrouting priority srcnat;\n"
            f"  oifname \"wan\" {stmt}\n }}\n}}\n")


class Topology:
    def __init__(self, lab):
        self.lab = lab
        self.routers = {}

    def add_public_node(self, name):
        node = RelayNode(self.lab, name, len(self.lab.nodes))
        self.lab._netns_add(node.ns)
        host_end = f"{self.lab.prefix[-5:]}{node.index}h"
        run(["ip", "link", "add", host_end, "netns", self.lab.hub, "type", "veth", "peer", "name", "eth0",
             "netns", node.ns])
        run(["ip", "-n", self.lab.hub, "link", "set", host_end, "master", "br0", "up"])
        run(["ip", "-n", node.ns, "addr", "add", f"{node.addr}/24", "dev", "eth0"])
        run(["ip", "-n", node.ns, "link", "set", "eth0", "up"])
        os.makedirs(node.dir, exist_ok=True)
        self.lab.nodes[name] = node
        return node

    def add_natted_node(self, name):
        wan, lan, stmt, cone = ROUTERS[name]
        lab = self.lab
        rns = f"{lab.prefix}-r{name}"
        lab._netns_add(rns)
        node = RelayNode(lab, name, len(lab.nodes))
        lab._netns_add(node.ns)
        host_end = f"{lab.prefix[-5:]}r{name}"
        run(["ip", "link", "add", host_end, "netns", lab.hub, "type", "veth", "peer", "name", "wan",
             "netns", rns])
        run(["ip", "-n", lab.hub, "link", "set", host_end, "master", "br0", "up"])
        run(["ip", "-n", rns, "addr", "add", f"{wan}/24", "dev", "wan"])
        run(["ip", "-n", rns, "link", "set", "wan", "up"])
        run(["ip", "link", "add", f"{lab.prefix[-5:]}l{name}", "netns", rns, "type", "veth", "peer",
             "name", "eth0", "netns", node.ns])
        run(["ip", "-n", rns, "link", "set", f"{lab.prefix[-5:]}l{name}", "name", "lan"])
        run(["ip", "-n", rns, "addr", "add", f"{lan}.1/24", "dev", "lan"])
        run(["ip", "-n", rns, "link", "set", "lan", "up"])
        run(["ip", "-n", node.ns, "addr", "add", f"{lan}.2/24", "dev", "eth0"])
        run(["ip", "-n", node.ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", node.ns, "route", "add", "default", "via", f"{lan}.1"])
        run(["ip", "netns", "exec", rns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        nft_ruleset(rns, nat_table(stmt, dnat_to=f"{lan}.2" if cone else None))
        os.makedirs(node.dir, exist_ok=True)
        lab.nodes[name] = node
        self.routers[name] = rns
        return node

    def renat(self, name, text):
        """Replaces the router's NAT table and drops its NAT state: the WAN address is removed
        (the masquerade notifier flushes the conntrack entries that used it) and re-added."""
        rns = self.routers[name]
        run(["ip", "netns", "exec", rns, "nft", "delete", "table", "ip", "pxrelay"])
        nft_ruleset(rns, text)
        self.readdress(name, ROUTERS[name][0], ROUTERS[name][0])

    def readdress(self, name, old, new):
        rns = self.routers[name]
        run(["ip", "-n", rns, "addr", "del", f"{old}/24", "dev", "wan"])
        run(["ip", "-n", rns, "addr", "add", f"{new}/24", "dev", "wan"])


@pytest.fixture(scope="module")
def world():
    for prog in ("/usr/bin/turnserver", "nft", "wireguard-go", "wg"):
        if not shutil.which(prog):
            pytest.skip(f"{prog} missing")
    for name in ("plexd", "plexcp"):
        if not os.path.isfile(plexlab.binary(name)):
            pytest.skip(f"{plexlab.binary(name)} not built")
    lab = plexlab.Lab(tag="r")
    topo = Topology(lab)
    try:
        run(["ip", "-n", lab.hub, "addr", "add", f"{STUN2}/24", "dev", "br0"])
        os.makedirs(lab.cp_dir, exist_ok=True)
        for i, addr in enumerate((STUN1, STUN2)):
            lab.spawn(["ip", "netns", "exec", lab.hub, "/usr/bin/turnserver", "-n", "--no-cli", "-S", "-L",
                       addr, "-p", "3478", "--no-tls", "--no-dtls", "--pidfile",
                       os.path.join(lab.cp_dir, f"turn{i}.pid"), "-l",
                       os.path.join(lab.cp_dir, f"turn{i}.log"), "--simple-log", "--no-stdout-log"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: all(a in run(["ip", "netns", "exec", lab.hub, "ss", "-ulnH", "sport", "= :3478"],
                                        check=False).stdout for a in (STUN1, STUN2)),
                   10, what="STUN servers listening")
        lab.start_plexcp()
        lab.allow_all()
        bridge = topo.add_public_node("bridge")
        bridge.bridge = True
        nodes = [bridge] + [topo.add_natted_node(n) for n in ("a", "b", "c", "d")]
        for n in nodes:
            n.start(token=lab.token())
        lab.wait_registered(nodes, timeout=30)
        lab.wait_full_mesh(nodes, timeout=30)
        yield lab, topo
    except BaseException:
        lab.dump_logs(80)
        raise
    finally:
        lab.cleanup()


def nat_type(node):
    return node.status().get("nat", {}).get("type")


def peer_of(node, other):
    for p in node.cli_json("peers")["peers"]:
        if p["id"] == other.node_id:
            return p
    return None


def wg_endpoint(node, other):
    """other's endpoint in node's WireGuard device (wg dump, the ground truth)."""
    for peer in node.wg_dump().values():
        if peer["allowed_ips"] == f"{other.mesh_ip}/32":
            return peer["endpoint"]
    return None


def ping_ok(a, b):
    return a.ping(b.mesh_ip, count=1, timeout=1)


def relay_sessions(bridge):
    st = bridge.status()
    return st.get("bridge", {}).get("relay", {}).get("sessions", [])


def test_nat_types(world):
    lab, _ = world
    n = lab.nodes
    want = {"bridge": "none", "a": "symmetric", "b": "symmetric", "c": "full_cone", "d": "full_cone"}
    wait_until(lambda: all(nat_type(n[k]) == v for k, v in want.items()), 30, interval=0.5,
               what=f"NAT types {want}")


def test_full_cone_pair_direct(world):
    lab, _ = world
    c, d = lab.nodes["c"], lab.nodes["d"]
    wait_until(lambda: ping_ok(c, d) and ping_ok(d, c), 40, interval=0.5, what="c <-> d ping")
    assert wg_endpoint(c, d) == f"{ROUTERS['d'][0]}:51820"
    assert wg_endpoint(d, c) == f"{ROUTERS['c'][0]}:51820"
    for x, y in ((c, d), (d, c)):
        p = peer_of(x, y)
        assert p["state"] == "active" and not p["relayed"], p


def test_symmetric_pair_relayed(world):
    lab, _ = world
    a, b, bridge = lab.nodes["a"], lab.nodes["b"], lab.nodes["bridge"]
    wait_until(lambda: peer_of(a, b)["relayed"] and peer_of(b, a)["relayed"], 30, interval=0.5,
               what="a and b see each other as relayed")
    assert peer_of(a, b)["state"] == "relayed"
    relay_ep = wg_endpoint(a, b)
    assert relay_ep.startswith(f"{BRIDGE_IP}:") and PORT_BASE <= int(relay_ep.split(":")[1]) < PORT_BASE + 8
    assert wg_endpoint(b, a) == relay_ep
    wait_until(lambda: ping_ok(a, b) and ping_ok(b, a), 40, interval=0.5, what="a <-> b ping via relay")
    s = relay_sessions(bridge)
    assert len(s) == 1, s
    s = s[0]
    assert s["port"] == int(relay_ep.split(":")[1])
    # The relay latched both peers to their routers' relay-facing mappings.
    ends = {s["peer_a"].split(":")[0], s["peer_b"].split(":")[0]}
    assert ends == {ROUTERS["a"][0], ROUTERS["b"][0]}
    before = s["bytes_a_to_b"] + s["bytes_b_to_a"]
    assert a.ping(b.mesh_ip, count=3, timeout=1)
    after = relay_sessions(bridge)[0]
    assert after["bytes_a_to_b"] + after["bytes_b_to_a"] > before
    assert after["bytes_a_to_b"] > 0 and after["bytes_b_to_a"] > 0


def test_relay_withdrawn_when_a_moves_to_full_cone(world):
    lab, topo = world
    a, b, bridge = lab.nodes["a"], lab.nodes["b"], lab.nodes["bridge"]
    topo.renat("a", nat_table("masquerade", dnat_to=f"{ROUTERS['a'][1]}.2"))
    wait_until(lambda: nat_type(a) == "full_cone", 30, interval=0.5, what="a reports full_cone")
    wait_until(lambda: not peer_of(a, b)["relayed"] and not peer_of(b, a)["relayed"], 20, interval=0.5,
               what="relay withdrawn on both sides")
    wait_until(lambda: relay_sessions(bridge) == [], 20, interval=0.5, what="bridge session revoked")
    assert wg_endpoint(b, a) == f"{ROUTERS['a'][0]}:51820"
    wait_until(lambda: ping_ok(a, b) and ping_ok(b, a), 30, interval=0.5, what="a <-> b ping direct")
    ep = wg_endpoint(a, b)
    assert ep.startswith(ROUTERS["b"][0] + ":"), ep  # b's router, not the relay
    assert peer_of(a, b)["state"] == "active"


def test_nat_rebinding_followed(world):
    lab, topo = world
    c, d = lab.nodes["c"], lab.nodes["d"]
    new = f"{NET}.33"
    topo.readdress("c", ROUTERS["c"][0], new)
    wait_until(lambda: c.status()["nat"]["endpoint"] == f"{new}:51820", 30, interval=0.5,
               what="c reports its new endpoint")
    wait_until(lambda: wg_endpoint(d, c) == f"{new}:51820", 15, interval=0.5,
               what="d follows c's new endpoint")
    wait_until(lambda: ping_ok(d, c) and ping_ok(c, d), 30, interval=0.5, what="c <-> d ping after rebinding")
