"""Network policy through the whole system: plexcp policy set -> signed policy_updated -> plexd
compiles and applies nftables in the node's namespace -> real TCP/ICMP traffic over the mesh."""

import json
import os
import subprocess
import time

import pytest

import plexlab
from plexlab import wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, nftables)")

SERVER = r"""
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept()
        data = c.recv(64)
        c.sendall(b"pong:" + data)
        c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

CLIENT = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    c.sendall(b"ping"); print(c.recv(64).decode()); sys.exit(0)
except OSError as e:
    print(e); sys.exit(1)
"""


@pytest.fixture
def lab():
    lab = plexlab.Lab("p")
    try:
        lab.start_stun()
        lab.start_plexcp()
        yield lab
    finally:
        lab.dump_logs()
        lab.cleanup()


def set_policies(lab, policies):
    path = os.path.join(lab.cp_dir, f"pol-{time.monotonic_ns()}.json")
    with open(path, "w") as f:
        json.dump(policies, f)
    lab.cp("policy", "set", "-f", path)


def serve(lab, node, *ports):
    p = lab.spawn(["ip", "netns", "exec", node.ns, "/usr/bin/python3", "-c", SERVER,
                   *map(str, ports)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def connect(src, dst_ip, port, timeout=1.0):
    r = src.exec("/usr/bin/python3", "-c", CLIENT, dst_ip, str(port), str(timeout), check=False,
                 timeout=timeout + 10)
    return r.returncode == 0 and r.stdout.strip() == "pong:ping"


def nft_ruleset(node):
    return node.exec("nft", "list", "ruleset").stdout


def start(lab, *names, policies=None):
    if policies is not None:
        set_policies(lab, policies)
    nodes = [lab.add_node(n) for n in names]
    for n in nodes:
        n.start(lab.token())
    lab.wait_registered(nodes)
    return nodes


def allow_8080(a, b):
    return [{"id": "web", "rules": [{"src": a.node_id, "dst": b.node_id, "port": 8080,
                                     "protocol": "tcp", "action": "allow"}]}]


def test_allow_one_port_one_direction(lab):
    # Policies name node ids, so register first (deny all), then set the policy.
    a, b, c = start(lab, "a", "b", "c", policies=[])
    wait_until(lambda: all(n.status()["control"]["state"] == "connected" for n in (a, b, c)),
               15, what="connected")
    assert all(len(n.wg_dump()) == 0 for n in (a, b, c)), "default deny: no peer visible"

    set_policies(lab, allow_8080(a, b))
    wait_until(lambda: len(a.wg_dump()) == 1 and len(b.wg_dump()) == 1, 10, interval=0.05,
               what="a and b see each other")
    serve(lab, b, 8080, 22)
    serve(lab, a, 8080)
    wait_until(lambda: connect(a, b.mesh_ip, 8080), 30, interval=0.2, what="a -> b:8080")
    assert not connect(a, b.mesh_ip, 22), "port 22 must be blocked"
    assert not connect(b, a.mesh_ip, 8080), "b must not open connections to a"
    # ICMP echo between visible peers is always allowed (agent.md §5.5 rule 5).
    assert a.ping(b.mesh_ip) and b.ping(a.mesh_ip)
    # c is not named by any allow rule: invisible, no tunnel, no handshake.
    assert len(c.wg_dump()) == 0
    assert c.node_id not in {p["id"] for p in a.cli_json("peers")["peers"]
                             if p["state"] != "hidden"}
    assert all(p["state"] == "hidden" for p in a.cli_json("peers", "--all")["peers"]
               if p["id"] == c.node_id)

    pol = a.cli_json("policies")
    assert pol["firewall"] == "applied"
    text = a.cli("policies").stdout
    assert "web" in text and "8080" in text


def test_deny_before_allow_and_invalid_rules(lab):
    a, b = start(lab, "a", "b", policies=[])
    wait_until(lambda: a.status()["control"]["state"] == "connected", 15, what="connected")
    set_policies(lab, [
        {"id": "first", "rules": [
            {"src": a.node_id, "dst": b.node_id, "port": 22, "protocol": "tcp",
             "action": "deny"},
            {"src": "n_nobody", "dst": b.node_id, "action": "allow"}]},
        {"id": "second", "rules": [
            {"src": a.node_id, "dst": b.node_id, "action": "allow"}]},
    ])
    serve(lab, b, 22, 8080)
    wait_until(lambda: connect(a, b.mesh_ip, 8080), 30, interval=0.2, what="a -> b:8080")
    assert not connect(a, b.mesh_ip, 22), "the earlier deny must win over the later allow"

    # plexcp refuses structurally invalid rules itself (unknown protocol, port without
    # protocol, CIDR outside the prefix); a rule naming a node plexd does not know passes the
    # CP and is skipped by plexd, never widened (test_events covers the other kinds).
    pol = a.cli_json("policies")
    reasons = [s["reason"] for s in pol["skipped"]]
    assert reasons == ["src: unknown node n_nobody"], reasons
    assert "unknown node n_nobody" in a.cli("policies").stdout


def test_policy_change_applies_within_a_second(lab):
    a, b = start(lab, "a", "b", policies=[])
    wait_until(lambda: all(n.status()["control"]["state"] == "connected" for n in (a, b)), 15,
               what="connected")
    set_policies(lab, allow_8080(a, b))
    serve(lab, b, 8080, 9090)
    wait_until(lambda: connect(a, b.mesh_ip, 8080), 30, interval=0.2, what="a -> b:8080")
    assert not connect(a, b.mesh_ip, 9090)

    policies = allow_8080(a, b)
    policies[0]["rules"].append({"src": a.node_id, "dst": b.node_id, "port": 9090,
                                 "protocol": "tcp", "action": "allow"})
    t0 = time.monotonic()
    set_policies(lab, policies)
    wait_until(lambda: connect(a, b.mesh_ip, 9090, timeout=0.3), 5, interval=0.02,
               what="new rule enforced")
    took = time.monotonic() - t0
    print(f"policy change enforced after {took * 1000:.0f} ms")
    assert took < 1.0, f"policy change took {took:.2f}s"


def test_table_repair_and_foreign_table_untouched(lab):
    a = lab.add_node("a")
    b = lab.add_node("b")
    foreign = ("table inet foreign {\n\tchain input {\n\t\ttype filter hook input priority 10; "
               "policy accept;\n\t\ttcp dport 4242 counter accept\n\t}\n}\n")
    subprocess.run(["ip", "netns", "exec", a.ns, "nft", "-f", "-"], input=foreign, text=True,
                   check=True)
    before = a.exec("nft", "list", "table", "inet", "foreign").stdout
    lab.allow_all()
    for n in (a, b):
        n.start(lab.token())
    lab.wait_registered([a, b])
    lab.wait_full_mesh([a, b])
    wait_until(lambda: "table inet plexd" in nft_ruleset(a), 10, what="plexd table")

    a.exec("nft", "delete", "table", "inet", "plexd")
    wait_until(lambda: "table inet plexd" in nft_ruleset(a), 15, interval=0.2,
               what="table recreated")
    a.exec("nft", "flush", "table", "inet", "plexd")
    wait_until(lambda: "jump mesh-in" in nft_ruleset(a), 15, interval=0.2, what="table repaired")
    assert a.ping(b.mesh_ip)

    def reported():
        r = subprocess.run(["curl", "-s", "--unix-socket", lab.cp_admin,
                            f"http://plexcp/v1/admin/nodes/{a.node_id}/records/drift"],
                           capture_output=True, text=True, check=True)
        recs = json.loads(r.stdout)["records"]
        details = [c["detail"] for rec in recs for c in (rec.get("record") or {}).get(
            "corrections", []) if c["type"] == "firewall_restored"]
        return "table missing" in details and "table modified" in details
    wait_until(reported, 15, what="firewall_restored drift reported")

    set_policies(lab, [{"id": "p2", "rules": [{"src": "*", "dst": "*", "protocol": "tcp",
                                               "action": "allow"}]}])
    wait_until(lambda: "p2" in json.dumps(a.cli_json("policies")), 10, what="policy update")
    assert a.exec("nft", "list", "table", "inet", "foreign").stdout == before
    assert a.stop() == 0
    assert "table inet plexd" not in nft_ruleset(a), "stop removes plexd's table"
    assert a.exec("nft", "list", "table", "inet", "foreign").stdout == before
