"""Integration tests of plexcp, the control plane, against the wire contract
(control-plane-api.md §1-§7, §9, §12). Each test drives a real `plexcp serve --insecure-http`
on a free loopback port with its database in a temp directory, through the node API (plain
HTTP/1.1) and the admin CLI. Event signatures are checked with an independent Ed25519
implementation (python3-cryptography) over a §6.3 canonicalisation written in cpclient.py from
the spec text; it is first checked against the §6.7 vectors."""

import base64
import datetime
import gzip
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import threading
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cpclient import (EnvelopeError, PlexCP, payload_canon, signing_input, time_canon,
                      verifies, verify_envelope, wg_public_key)
from spec_vectors import VECTOR1, VECTOR1_SI, VECTOR2, VECTOR_KEY

KEY32_RE = re.compile(r"[A-Za-z0-9+/]{43}=")
ID_RE = re.compile(r"[A-Za-z0-9._~-]{1,128}")
MESH = ipaddress.ip_network("10.100.0.0/16")


def test_canonicalisation_matches_spec_vectors():
    si, _ = signing_input(VECTOR1)
    assert si == VECTOR1_SI and len(si) == 367
    assert hashlib.sha256(si).hexdigest() == \
        "e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a43"
    assert verify_envelope(VECTOR1, VECTOR_KEY)["event_id"] == "evt_000042"
    si2, _ = signing_input(VECTOR2)
    assert len(si2) == 358
    assert hashlib.sha256(si2).hexdigest() == \
        "8b1889f1ee65a3ffd901ea30deecbd2effa2ed16c4197769a649e66e26d227a7"
    assert verifies(VECTOR2, VECTOR_KEY)
    # Negative checks of §6.7: a changed number spelling or escape must fail; re-indenting not.
    assert not verifies(VECTOR1.replace(b"8443", b"8443.0"), VECTOR_KEY)
    assert not verifies(VECTOR1.replace(b'"env"', b'"\\u0065nv"'), VECTOR_KEY)
    assert not verifies(VECTOR2.replace(b"10.100.1.5/32", b"10.100.1.6/32"), VECTOR_KEY)
    assert not verifies(VECTOR1, "YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=")
    reindented = json.dumps(json.loads(VECTOR1), indent=7).encode()
    assert b"ops & sre <team>" in reindented
    assert verifies(reindented, VECTOR_KEY)
    # TIME table of §6.3, and the rejects.
    for got, want in [("2025-01-15T10:30:00Z", "2025-01-15T10:30:00Z"),
                      ("2025-01-15T10:30:00.250000Z", "2025-01-15T10:30:00.25Z"),
                      ("2025-01-15T10:30:00.000Z", "2025-01-15T10:30:00Z"),
                      ("2025-01-15T10:30:00+00:00", "2025-01-15T10:30:00Z"),
                      ("2025-01-15T12:30:00+02:00", "2025-01-15T12:30:00+02:00"),
                      ("2025-01-15T12:30:00.100200300400+02:00", "2025-01-15T12:30:00.1002003+02:00")]:
        assert time_canon(got) == want
    for bad in ["0001-01-01T00:00:00Z", "2025-02-30T10:30:00Z", "2025-01-15t10:30:00Z",
                "2025-01-15T24:00:00Z", "2025-01-15T10:30:00", "2025-01-15T10:30:00+24:00"]:
        with pytest.raises(EnvelopeError):
            time_canon(bad)
    assert payload_canon('{"a" : "x\u2028<\\"&>" }'.encode()) == b'{"a":"x\\u2028\\u003c\\"\\u0026\\u003e"}'


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers.

@pytest.fixture
def cps(plexcp_bin, tmp_path, request):
    """Factory of plexcp servers; all are stopped (by PID) afterwards and must have exited
    cleanly on SIGTERM without sanitizer reports. Their logs are attached to the report (shown
    for failures) and their directories removed (kept with PLEXCP_KEEP=1)."""
    started = []

    def make(*extra, workdir=None, keepalive="300ms"):
        wd = workdir or tmp_path / f"cp{len(started)}"
        os.makedirs(wd, exist_ok=True)
        c = PlexCP(plexcp_bin, wd, ["--keepalive-interval", keepalive, *extra])
        started.append(c)
        return c.start()

    yield make
    problems = []
    for c in started:
        if c.proc and c.proc.poll() is None:
            rc = c.stop(signal.SIGTERM)
            if rc != 0:
                problems.append(f"plexcp exited {rc} on SIGTERM")
        if c.sanitizer_reports():
            problems.append(f"sanitizer report in {c.log_path}:\n{c.log_text()[-4000:]}")
        request.node.add_report_section("teardown", f"plexcp log {c.workdir}", c.log_text()[-20000:])
        if not os.environ.get("PLEXCP_KEEP"):
            shutil.rmtree(c.workdir, ignore_errors=True)
    assert not problems, "\n".join(problems)


@pytest.fixture
def cp(cps):
    return cps()


def wait_for(pred, timeout=5.0, what="condition", step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def check_event(ev, key, event_type=None):
    """§5.2 framing and §6 envelope checks of one received SSE event; returns the envelope."""
    assert len(ev["data"]) == 1, f"exactly one data: line per event, got {ev['data']}"
    assert set(ev["fields"]) <= {"id", "event", "data"} and ev["fields"].count("id") == 1
    env = verify_envelope(ev["raw"], key)  # raises if the signature does not verify
    assert ev["id"] == env["event_id"] and ev["event"] == env["event_type"]
    if event_type:
        assert env["event_type"] == event_type, env
    assert ID_RE.fullmatch(env["event_id"])
    assert re.fullmatch(r"[0-9a-f]{32}", env["nonce"]), env["nonce"]
    assert time_canon(env["issued_at"]) == env["issued_at"], "issued_at must be canonical (§6.1)"
    issued = datetime.datetime.fromisoformat(env["issued_at"].replace("Z", "+00:00"))
    assert abs((now_utc() - issued).total_seconds()) < 60
    assert isinstance(env["payload"], dict)
    assert len(base64.b64decode(env["signature"], validate=True)) == 64
    return env


def check_peer(p):
    assert ID_RE.fullmatch(p["id"])
    assert KEY32_RE.fullmatch(p["public_key"]) and len(base64.b64decode(p["public_key"])) == 32
    assert ipaddress.ip_address(p["mesh_ip"]) in MESH
    assert isinstance(p["endpoint"], str)
    assert f"{p['mesh_ip']}/32" in p["allowed_ips"]
    assert KEY32_RE.fullmatch(p["psk"]), "plexcp assigns a PSK to every pair"


def json_error(r, *codes, strict=False):
    """Asserts the status and a JSON error body (§2.7). strict: also the SHOULD form
    {"error":"<short_code>","message":"<text>"}."""
    assert r.status in codes, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    assert len(r.body) <= 4096
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    if strict:
        assert re.fullmatch(r"[a-z0-9_]+", body["error"]), f"error is not a short code: {body}"
        assert isinstance(body.get("message"), str) and body["message"], f"no message: {body}"
    return body


def peers_by_id(peers):
    return {p["id"]: p for p in peers}


def heartbeat_body(node, **over):
    b = {"node_id": node["node_id"], "timestamp": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
         "status": "healthy", "uptime": "1m2s",
         "binary_checksum": "sha256:" + "ab" * 32}
    b.update(over)
    return b


def gz(data):
    return gzip.compress(data)


# ---------------------------------------------------------------------------------------------
# Registration (E1).

def test_register_response_and_symmetric_psks(cp):
    a = cp.register(hostname="alpha")
    b = cp.register(hostname="beta")
    c = cp.register(hostname="gamma")
    for n in (a, b, c):
        assert ID_RE.fullmatch(n["node_id"]) and n["node_id"] not in (".", "..")
        assert ipaddress.ip_address(n["mesh_ip"]) in MESH
        assert KEY32_RE.fullmatch(n["signing_public_key"])
        assert len(base64.b64decode(n["signing_public_key"])) == 32
        assert KEY32_RE.fullmatch(n["node_secret_key"])
        assert len(base64.b64decode(n["node_secret_key"])) == 32
        tok = n["node_token"]
        assert 32 <= len(tok) <= 256 and all(0x20 <= ord(ch) <= 0x7E for ch in tok)
        assert tok != n["node_secret_key"]
        assert n["signing_public_key"] == a["signing_public_key"]
    assert len({n["mesh_ip"] for n in (a, b, c)}) == 3
    assert len({n["node_id"] for n in (a, b, c)}) == 3
    assert len({n["node_secret_key"] for n in (a, b, c)}) == 3
    assert a["peers"] == []
    assert [p["id"] for p in b["peers"]] == [a["node_id"]]
    assert sorted(p["id"] for p in c["peers"]) == sorted([a["node_id"], b["node_id"]])
    for p in b["peers"] + c["peers"]:
        check_peer(p)
    # The view of each node, from its state response: PSK(A,B) seen by A == seen by B.
    views = {n["node_id"]: peers_by_id(cp.state(n)["peers"]) for n in (a, b, c)}
    nodes = {n["node_id"]: n for n in (a, b, c)}
    for x, view in views.items():
        assert x not in view, "a node is never its own peer"
        assert set(view) == set(nodes) - {x}
        for y, peer in view.items():
            check_peer(peer)
            assert peer["psk"] == views[y][x]["psk"], f"PSK of pair ({x},{y}) differs"
            assert peer["public_key"] == nodes[y]["public_key"]
            assert peer["mesh_ip"] == nodes[y]["mesh_ip"]
    # The registration responses carry the same PSKs as the state.
    assert peers_by_id(c["peers"])[a["node_id"]]["psk"] == views[c["node_id"]][a["node_id"]]["psk"]
    assert len({views[a["node_id"]][b["node_id"]]["psk"], views[a["node_id"]][c["node_id"]]["psk"],
                views[b["node_id"]][c["node_id"]]["psk"]}) == 3


def test_register_token_and_field_validation(cp):
    listed_before = cp.cli("node", "list")
    tok, tok2 = cp.tokens(2)
    key = wg_public_key()
    bad = [
        ({"public_key": key, "hostname": "h1"}, "missing token"),
        ({"token": "", "public_key": key, "hostname": "h1"}, "empty token"),
        ({"token": 17, "public_key": key, "hostname": "h1"}, "token not a string"),
        ({"token": tok, "hostname": "h1"}, "missing public_key"),
        ({"token": tok, "public_key": "not base64!", "hostname": "h1"}, "public_key not b64"),
        ({"token": tok, "public_key": base64.b64encode(os.urandom(31)).decode(), "hostname": "h1"},
         "public_key 31 bytes"),
        ({"token": tok, "public_key": base64.b64encode(os.urandom(33)).decode(), "hostname": "h1"},
         "public_key 33 bytes"),
        ({"token": tok, "public_key": key[:-1], "hostname": "h1"}, "public_key without padding"),
        ({"token": tok, "public_key": key}, "missing hostname"),
        ({"token": tok, "public_key": key, "hostname": ""}, "empty hostname"),
        ({"token": tok, "public_key": key, "hostname": "h" * 254}, "hostname 254 chars"),
        ({"token": tok, "public_key": key, "hostname": 5}, "hostname not a string"),
        ({"token": tok, "public_key": key, "hostname": "h1", "metadata": {"os": 1}},
         "metadata value not a string"),
        ({"token": tok, "public_key": key, "hostname": "h1", "metadata": []}, "metadata not an object"),
    ]
    for body, what in bad:
        r = cp.request("POST", "/v1/register", body)
        assert r.status == 400, f"{what}: {r}"
        json_error(r, 400)
    for raw in [b"", b"{", b"[]", b"null", b'{"token":"x"', b'{"token":"' + tok.encode() + b'"}x']:
        json_error(cp.request("POST", "/v1/register", raw, {"Content-Type": "application/json"}), 400)
    # Nothing was registered and the token was not consumed by the rejected requests.
    assert cp.cli("node", "list") == listed_before
    json_error(cp.register(token="plx_enroll_" + "0" * 32, expect=401), 401)
    a = cp.register(token=tok, hostname="h1", public_key=key,
                    metadata={"os": "linux", "mode": "node"})
    # Single use: the same token again (even with another host name) is refused.
    json_error(cp.register(token=tok, hostname="h2", expect=401), 401)
    # A live node with that host name already exists.
    json_error(cp.register(token=tok2, hostname="h1", expect=409), 409)
    b = cp.register(token=tok2, hostname="h" * 253)  # the 409 did not use up tok2; 253 chars ok
    assert {n["id"] for n in cp.cli("node", "list")["nodes"]} == {a["node_id"], b["node_id"]}
    assert cp.cli("node", "show", a["node_id"])["metadata"] == {"os": "linux", "mode": "node"}
    # Expired token.
    (short,) = cp.tokens(1, ttl="1s")
    time.sleep(2.1)
    json_error(cp.register(token=short, expect=401), 401)
    # After deregistration the host name is free again; a gzip body is accepted (§2.5).
    assert cp.node_call(a, "POST", "/deregister").status == 200
    body = {"token": cp.tokens(1)[0], "public_key": wg_public_key(), "hostname": "h1"}
    r = cp.request("POST", "/v1/register", gz(json.dumps(body).encode()),
                   {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status == 201 and r.json()["node_id"] != a["node_id"], r


def test_auth_rules(cp):
    a = cp.register()
    b = cp.register()
    boot = cp.tokens(1)[0]
    r = cp.request("GET", "/v1/ping")
    assert r.status == 200 and r.json() == {"status": "ok"}
    assert cp.request("GET", "/v1/ping", token="garbage").status == 200
    targets = [("GET", "/state", None), ("POST", "/heartbeat", heartbeat_body(a)),
               ("GET", "/secrets/nope", None), ("PUT", "/endpoint",
                                                {"public_endpoint": "198.51.100.1:51820", "nat_type": "none"}),
               ("POST", "/metrics", [])]
    for method, suffix, body in targets:
        json_error(cp.request(method, f"/v1/nodes/{a['node_id']}{suffix}", body), 401)
        for bad in ("unknown-token-" + "x" * 40, a["node_secret_key"], boot, a["node_token"] + "x",
                    a["node_token"][:-1]):
            json_error(cp.node_call(a, method, suffix, body, token=bad), 401)
        json_error(cp.node_call(a, method, suffix, body, token=b["node_token"]), 403)
    # E5: node_id in the body must be the authenticated node.
    json_error(cp.request("POST", "/v1/keys/rotate",
                          {"node_id": b["node_id"], "new_public_key": wg_public_key()},
                          token=a["node_token"]), 403)
    json_error(cp.request("POST", "/v1/keys/rotate",
                          {"node_id": a["node_id"], "new_public_key": wg_public_key()},
                          token=a["node_secret_key"]), 401)
    # The event stream: 401 without/unknown credential, NSK refused, 403 for another node.
    for tok, code in [(None, 401), ("nope" * 10, 401), (a["node_secret_key"], 401),
                      (b["node_token"], 403)]:
        s = cp.stream(a, token=tok)
        assert s.status == code, (tok, s.status, s.body)
    # An unknown node is 401 (§4.2, §12.4), never 404.
    s = cp.stream({"node_id": "n_doesnotexist", "node_token": "nope" * 10})
    assert s.status == 401, (s.status, s.body)
    json_error(cp.request("GET", "/v1/nodes/n_doesnotexist/state", token="nope" * 10), 401)
    # With a valid credential of another node the spec has two readings: §2.4 rule 2 (known
    # bearer, node differs from the path -> 403) and §4.2/§12.4 (unknown node -> 401). Either
    # is accepted; 404 is not.
    s = cp.stream({"node_id": "n_doesnotexist", "node_token": a["node_token"]})
    assert s.status in (401, 403), (s.status, s.body)
    json_error(cp.request("GET", "/v1/nodes/n_doesnotexist/state", token=a["node_token"]), 401, 403)
    # Path parameters are percent-decoded before lookup (§2.1).
    enc = "".join(f"%{ord(ch):02X}" for ch in a["node_id"])
    r = cp.request("GET", f"/v1/nodes/{enc}/state", token=a["node_token"])
    assert r.status == 200 and r.json() == cp.state(a), r
    # Deregistration revokes the bearer value.
    assert cp.node_call(b, "POST", "/deregister").status == 200
    json_error(cp.node_call(b, "GET", "/state"), 401)
    assert cp.stream(b).status == 401
    assert cp.node_call(a, "GET", "/state").status == 200


# ---------------------------------------------------------------------------------------------
# Event stream (E2, §5) and signed events (§6, §7, §12.2).

def test_sse_framing(cp):
    a = cp.register()
    s = cp.stream(a)
    try:
        assert s.status == 200
        assert s.headers["content-type"].split(";")[0].strip() == "text/event-stream"
        assert "no-cache" in s.headers.get("cache-control", "")
        assert "content-encoding" not in s.headers
        cp.cli("meta", "set", a["node_id"], "env=prod", "owner=ops & sre <team>")
        ev = s.next()
        env = check_event(ev, a["signing_public_key"], "node_state_updated")
        assert env["payload"] == {"metadata": {"env": "prod", "owner": "ops & sre <team>"}, "data": []}
        s.quiet(1.0)  # keepalive interval is 300 ms in these tests
        p = s.parser
        assert p.comments and len(p.comments) >= 3, f"keepalive comments expected: {p.comments}"
        assert p.retries and all(1000 <= int(x) <= 60000 for x in p.retries), p.retries
        assert not p.cr_seen, "the CP MUST use LF line ends"
        assert p.max_line <= 65535
    finally:
        s.close()
    # A new stream for the same node closes the older one (§5.1 SHOULD).
    s1 = cp.stream(a)
    s2 = cp.stream(a)
    try:
        cp.cli("meta", "set", a["node_id"], "env=dev")
        check_event(s2.next(), a["signing_public_key"], "node_state_updated")
        deadline = time.monotonic() + 2
        while s1.poll(0.1) and time.monotonic() < deadline:
            pass
        assert s1.closed, "older stream of the same node should be closed"
        assert all(e["event"] != "node_state_updated" or "dev" not in e["raw"].decode()
                   for e in s1.events)
    finally:
        s1.close()
        s2.close()


def test_every_event_type_is_signed_and_correct(cp, tmp_path):
    a = cp.register(hostname="a")
    b = cp.register(hostname="b")
    key = a["signing_public_key"]
    sa, sb = cp.stream(a), cp.stream(b)
    seen = []

    def expect(stream, event_type, k=None):
        env = check_event(stream.wait_type(event_type), k or key, event_type)
        seen.append(event_type)
        return env

    try:
        # peer_added to every other node on registration, PSK of that pair.
        c = cp.register(hostname="c")
        for s, n in ((sa, a), (sb, b)):
            p = expect(s, "peer_added")["payload"]
            check_peer(p)
            assert p["id"] == c["node_id"] and p["public_key"] == c["public_key"]
            assert p["psk"] == peers_by_id(c["peers"])[n["node_id"]]["psk"]
        sc = cp.stream(c)
        # peer_endpoint_changed on an E7 change; full Peer payload (A5).
        r = cp.node_call(c, "PUT", "/endpoint", {"public_endpoint": "198.51.100.7:51820",
                                                  "nat_type": "full_cone"})
        assert r.status == 200 and isinstance(r.json()["peer_endpoints"], list), r
        for s in (sa, sb):
            p = expect(s, "peer_endpoint_changed")["payload"]
            check_peer(p)
            assert p["id"] == c["node_id"] and p["endpoint"] == "198.51.100.7:51820"
        r = cp.node_call(a, "PUT", "/endpoint", {"public_endpoint": "198.51.100.1:51820",
                                                  "nat_type": "none"})
        assert {"peer_id": c["node_id"], "endpoint": "198.51.100.7:51820"} in r.json()["peer_endpoints"]
        expect(sc, "peer_endpoint_changed")
        # Same endpoint again: not a change, no event.
        cp.node_call(c, "PUT", "/endpoint", {"public_endpoint": "198.51.100.7:51820",
                                             "nat_type": "full_cone"})
        assert not [e for e in sa.quiet(0.4) if e["event"] == "peer_endpoint_changed"]
        # rotate_keys (admin) then E5 -> peer_key_rotated with the new key and a fresh PSK.
        cp.cli("keys", "rotate", c["node_id"])
        expect(sc, "rotate_keys")
        hb = cp.node_call(c, "POST", "/heartbeat", heartbeat_body(c))
        assert hb.status == 200 and hb.json().get("rotate_keys") is True, hb
        old_psk = peers_by_id(cp.state(a)["peers"])[c["node_id"]]["psk"]
        newkey = wg_public_key()
        r = cp.request("POST", "/v1/keys/rotate", {"node_id": c["node_id"], "new_public_key": newkey},
                       token=c["node_token"])
        assert r.status == 200, r
        updated = peers_by_id(r.json()["updated_peers"])
        assert set(updated) == {a["node_id"], b["node_id"]}
        for s, n in ((sa, a), (sb, b)):
            p = expect(s, "peer_key_rotated")["payload"]
            check_peer(p)
            assert p["id"] == c["node_id"] and p["public_key"] == newkey
            assert p["psk"] == updated[n["node_id"]]["psk"]
        assert updated[a["node_id"]]["psk"] != old_psk
        assert peers_by_id(cp.state(a)["peers"])[c["node_id"]]["psk"] == updated[a["node_id"]]["psk"]
        assert not cp.node_call(c, "POST", "/heartbeat", heartbeat_body(c)).json().get("rotate_keys")
        # policy_updated to every affected node, carrying the full set.
        pol = [{"id": "pol_web", "rules": [{"src": a["node_id"], "dst": b["node_id"], "port": 443,
                                             "protocol": "tcp", "action": "allow"}]},
               {"id": "default-allow", "rules": [{"src": "*", "dst": "*", "action": "allow"}]}]
        (tmp_path / "pol.json").write_text(json.dumps(pol))
        cp.cli("policy", "set", "-f", str(tmp_path / "pol.json"))
        for s in (sa, sb, sc):
            assert expect(s, "policy_updated")["payload"]["policies"] == pol
        assert cp.state(b)["policies"] == pol
        # node_state_updated on meta set / data set (full content, to that node only).
        cp.cli("meta", "set", a["node_id"], "region=eu-west-1", "tag=<x>&y")
        assert expect(sa, "node_state_updated")["payload"] == \
            {"metadata": {"region": "eu-west-1", "tag": "<x>&y"}, "data": []}
        (tmp_path / "d.json").write_text('{"port": 8443, "tls": true, "name": "caf\u00e9 \u2028"}')
        cp.cli("data", "set", a["node_id"], "app-config", "-f", str(tmp_path / "d.json"))
        p = expect(sa, "node_state_updated")["payload"]
        assert p["metadata"] == {"region": "eu-west-1", "tag": "<x>&y"}
        (d,) = p["data"]
        assert d["key"] == "app-config" and d["payload"] == {"port": 8443, "tls": True,
                                                             "name": "caf\u00e9 \u2028"}
        assert d["version"] >= 1 and time_canon(d["updated_at"])
        cp.cli("data", "set", a["node_id"], "app-config", "-f", str(tmp_path / "d.json"))
        assert expect(sa, "node_state_updated")["payload"]["data"][0]["version"] > d["version"]
        # node_secrets_updated on secret set: index only, never the value.
        cp.cli("secret", "set", a["node_id"], "db-url", stdin=b"postgres://x:S3cr3t@db/app")
        ev = sa.wait_type("node_secrets_updated")
        assert b"S3cr3t" not in ev["raw"]
        p = check_event(ev, key)["payload"]
        assert [r["key"] for r in p["secret_refs"]] == ["db-url"] and p["secret_refs"][0]["version"] >= 1
        seen.append("node_secrets_updated")
        # action_request.
        out = cp.cli("action", "run", a["node_id"], "system.info", "--param", "verbose=true",
                     "--timeout", "20s")
        p = expect(sa, "action_request")["payload"]
        assert ID_RE.fullmatch(p["execution_id"]) and p["action"] == "system.info"
        assert p.get("parameters") == {"verbose": "true"}
        assert p["execution_id"] in json.dumps(out)
        r = cp.node_call(a, "POST", f"/executions/{p['execution_id']}/ack",
                         {"execution_id": p["execution_id"], "status": "accepted", "reason": ""})
        assert r.status == 200, r
        # No other node received a-only events.
        others = [e["event"] for e in sb.quiet(0.2)]
        assert not {"node_state_updated", "node_secrets_updated", "action_request"} & set(others)
        # signing_key_rotated: signed with the OLD key; later events with the new one only.
        cp.cli("signing-key", "rotate")
        envs = []
        for s in (sa, sb, sc):
            ev = s.wait_type("signing_key_rotated")
            env = check_event(ev, key, "signing_key_rotated")
            envs.append(env["payload"])
        seen.append("signing_key_rotated")
        p = envs[0]
        assert all(x == p for x in envs)
        newsk = p["current"]
        assert KEY32_RE.fullmatch(newsk) and newsk != key and p["previous"] == key
        exp = datetime.datetime.fromisoformat(time_canon(p["transition_expires"]).replace("Z", "+00:00"))
        assert exp > now_utc() + datetime.timedelta(hours=1)
        assert cp.state(a)["signing_keys"] == p
        cp.cli("meta", "set", a["node_id"], "after=rotation")
        ev = sa.wait_type("node_state_updated")
        check_event(ev, newsk)
        assert not verifies(ev["raw"], key), "events after the rotation must use the new key"
        assert cp.register()["signing_public_key"] == newsk
        # peer_removed on admin node remove and on E4 deregistration.
        sb.quiet(0.2)
        cp.cli("node", "remove", c["node_id"])
        for s in (sa, sb):
            env = check_event(s.wait_type("peer_removed"), newsk, "peer_removed")
            assert env["payload"]["peer_id"] == c["node_id"]
        assert cp.node_call(b, "POST", "/deregister").status == 200
        env = check_event(sa.wait_type("peer_removed"), newsk)
        assert env["payload"]["peer_id"] == b["node_id"]
        seen.append("peer_removed")
        assert c["node_id"] not in peers_by_id(cp.state(a)["peers"])
        # Event IDs of one node increase in emission order; nonces are unique.
        ids = [e["id"] for e in sa.events]
        nums = [int(re.sub(r"\D", "", i)) for i in ids]
        assert nums == sorted(nums) and len(set(nums)) == len(nums), ids
        nonces = [json.loads(e["raw"])["nonce"] for s in (sa, sb, sc) for e in s.events]
        assert len(nonces) == len(set(nonces))
        for s in (sa, sb, sc):
            for e in s.events:  # everything any stream received verifies with one of the keys
                assert verifies(e["raw"], key) or verifies(e["raw"], newsk), e
    finally:
        for s in (sa, sb):
            s.close()
    assert {"peer_added", "peer_endpoint_changed", "rotate_keys", "peer_key_rotated",
            "policy_updated", "node_state_updated", "action_request"} <= set(seen)


# ---------------------------------------------------------------------------------------------
# §9 secrets (E10).

def test_secret_encryption(cp):
    a = cp.register()
    b = cp.register()
    value = "postgres://app:S3cr3t!@db.internal:5432/app \u00e9\u2713".encode()
    cp.cli("secret", "set", a["node_id"], "db-url", stdin=value)
    refs = cp.state(a)["secret_refs"]
    assert [r["key"] for r in refs] == ["db-url"]
    nsk = base64.b64decode(a["node_secret_key"])
    nonces = set()
    for _ in range(2):
        r = cp.node_call(a, "GET", "/secrets/db-url")
        assert r.status == 200, r
        j = r.json()
        assert j["key"] == "db-url" and j["version"] == refs[0]["version"]
        nonce = base64.b64decode(j["nonce"], validate=True)
        ct = base64.b64decode(j["ciphertext"], validate=True)
        assert len(nonce) == 12 and len(j["nonce"]) == 16
        assert len(ct) == len(value) + 16
        assert AESGCM(nsk).decrypt(nonce, ct, None) == value
        with pytest.raises(Exception):
            AESGCM(base64.b64decode(b["node_secret_key"])).decrypt(nonce, ct, None)
        nonces.add(nonce)
    assert len(nonces) == 2, "every response uses a fresh nonce"
    # New version after a change.
    cp.cli("secret", "set", a["node_id"], "db-url", stdin=b"v2")
    j = cp.node_call(a, "GET", "/secrets/db-url").json()
    assert j["version"] > refs[0]["version"]
    assert AESGCM(nsk).decrypt(base64.b64decode(j["nonce"]), base64.b64decode(j["ciphertext"]), None) == b"v2"
    json_error(cp.node_call(a, "GET", "/secrets/nope"), 404)
    json_error(cp.node_call(b, "GET", "/secrets/db-url"), 404)  # B has no such secret
    json_error(cp.request("GET", f"/v1/nodes/{a['node_id']}/secrets/db-url", token=b["node_token"]), 403)


# ---------------------------------------------------------------------------------------------
# Replay (§5.4).

def test_replay_after_reconnect(cp):
    a = cp.register()
    key = a["signing_public_key"]
    s1 = cp.stream(a)
    for i in range(3):
        cp.cli("meta", "set", a["node_id"], f"round={i}")
    live1 = [s1.next() for _ in range(3)]
    s1.close()
    for i in range(4):  # M = 4 events while disconnected (two kinds)
        if i % 2:
            cp.cli("meta", "set", a["node_id"], f"missed={i}")
        else:
            cp.register()  # peer_added to a
    s2 = cp.stream(a, last_event_id=live1[-1]["id"])
    try:
        replayed = [s2.next() for _ in range(4)]
        assert [e["event"] for e in replayed] == ["peer_added", "node_state_updated"] * 2
        assert not s2.quiet(0.4), "exactly the missed events are replayed"
        for e in replayed:
            check_event(e, key)
        cp.cli("meta", "set", a["node_id"], "live=1")
        live2 = s2.next()
        check_event(live2, key, "node_state_updated")
    finally:
        s2.close()
    ids = [e["id"] for e in live1 + replayed + [live2]]
    assert len(set(ids)) == len(ids)
    # From the first event on: the rest, byte-identical to what the live listeners received.
    s3 = cp.stream(a, last_event_id=live1[0]["id"])
    try:
        again = [s3.next() for _ in range(7)]
        assert not s3.quiet(0.3)
    finally:
        s3.close()
    expected = live1[1:] + replayed + [live2]
    assert [e["id"] for e in again] == [e["id"] for e in expected]
    assert [e["raw"] for e in again] == [e["raw"] for e in expected], "replay must be byte-identical"
    assert [e["event"] for e in again] == [e["event"] for e in expected]
    # Unknown IDs (never issued, garbage): live events only.
    for unknown in ("evt_9999999999", "garbage id", ""):
        s = cp.stream(a, last_event_id=unknown)
        try:
            assert s.status == 200
            assert not s.quiet(0.3), f"Last-Event-ID {unknown!r} must not replay anything"
            cp.cli("meta", "set", a["node_id"], f"u={len(unknown)}")
            ev = s.next()
            check_event(ev, key, "node_state_updated")
            assert ev["id"] not in ids
        finally:
            s.close()


# ---------------------------------------------------------------------------------------------
# Restart on the same database.

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_restart_keeps_state(cps, tmp_path, sig):
    cp = cps()
    a = cp.register(hostname="a")
    b = cp.register(hostname="b")
    used = cp.cli("token", "create")["tokens"][0]["token"]
    cp.register(token=used, hostname="c")
    unused = cp.tokens(1)[0]
    pol = [{"id": "p1", "rules": [{"src": "*", "dst": "*", "action": "allow"}]}]
    (tmp_path / "p.json").write_text(json.dumps(pol))
    cp.cli("policy", "set", "-f", str(tmp_path / "p.json"))
    cp.cli("meta", "set", a["node_id"], "env=prod")
    cp.cli("secret", "set", a["node_id"], "k1", stdin=b"value-1")
    s = cp.stream(a)
    cp.cli("meta", "set", a["node_id"], "env=prod", "x=1")
    last = s.next()
    s.close()
    before_nodes = cp.cli("node", "list")
    before_state = {n["node_id"]: cp.state(n) for n in (a, b)}
    before_tail = cp.cli_raw("--json", "events", "tail", a["node_id"], "--no-follow").stdout
    rc = cp.stop(sig)
    assert rc == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    cp.start()

    def comparable(nodes):
        return [{k: v for k, v in n.items() if k not in ("stream_connected", "reconcile_pending")}
                for n in nodes["nodes"]]

    assert comparable(cp.cli("node", "list")) == comparable(before_nodes)
    for n in (a, b):
        assert cp.state(n) == before_state[n["node_id"]]  # node_token still valid; same content
    assert cp.cli("policy", "list") == pol
    json_error(cp.register(token=used, hostname="d", expect=401), 401)  # used stays used
    d = cp.register(token=unused, hostname="d")
    assert d["signing_public_key"] == a["signing_public_key"]
    after_tail = cp.cli_raw("--json", "events", "tail", a["node_id"], "--no-follow").stdout
    assert before_tail and before_tail in after_tail, "the retained events survive the restart"
    j = cp.node_call(a, "GET", "/secrets/k1").json()
    assert AESGCM(base64.b64decode(a["node_secret_key"])).decrypt(
        base64.b64decode(j["nonce"]), base64.b64decode(j["ciphertext"]), None) == b"value-1"
    # Event IDs keep increasing; the pre-restart events are still replayable.
    s = cp.stream(a, last_event_id=last["id"])
    try:
        ev = s.next()  # peer_added for d, emitted after the restart
        env = check_event(ev, a["signing_public_key"], "peer_added")
        assert env["payload"]["id"] == d["node_id"]
        assert int(re.sub(r"\D", "", ev["id"])) > int(re.sub(r"\D", "", last["id"]))
    finally:
        s.close()
    assert not cp.sanitizer_reports()


# ---------------------------------------------------------------------------------------------
# Heartbeat (E3) and the node lifecycle (§12.1).

def test_heartbeat_and_offline_lifecycle(cps):
    cp = cps("--heartbeat-interval", "200ms")
    a = cp.register()
    b = cp.register()
    json_error(cp.node_call(a, "POST", "/heartbeat", heartbeat_body(a, node_id=b["node_id"])), 400)
    json_error(cp.node_call(a, "POST", "/heartbeat", heartbeat_body(a, node_id="bad id")), 400)
    r = cp.node_call(a, "POST", "/heartbeat", heartbeat_body(a))
    assert r.status == 200 and isinstance(r.json(), dict), r
    assert cp.cli("node", "show", a["node_id"])["status"] == "online"
    stop_b = threading.Event()

    def keep_b_alive():
        while not stop_b.is_set():
            cp.node_call(b, "POST", "/heartbeat", heartbeat_body(b))
            stop_b.wait(0.1)

    t = threading.Thread(target=keep_b_alive, daemon=True)
    t.start()
    sb = cp.stream(b)
    try:
        wait_for(lambda: cp.cli("node", "show", a["node_id"])["status"] == "unreachable",
                 timeout=3, what="a unreachable", step=0.1)
        ev = sb.wait_type("peer_removed", timeout=5)
        assert check_event(ev, b["signing_public_key"])["payload"]["peer_id"] == a["node_id"]
        assert cp.cli("node", "show", a["node_id"])["status"] == "offline"
        assert cp.cli("node", "show", b["node_id"])["status"] == "online"
        r = cp.node_call(a, "POST", "/heartbeat", heartbeat_body(a))
        assert r.status == 200
        ev = sb.wait_type("peer_added", timeout=3)
        p = check_event(ev, b["signing_public_key"])["payload"]
        assert p["id"] == a["node_id"] and p["public_key"] == a["public_key"]
        assert cp.cli("node", "show", a["node_id"])["status"] == "online"
    finally:
        stop_b.set()
        t.join()
        sb.close()


# ---------------------------------------------------------------------------------------------
# Bad input changes nothing (§2.5, §2.7, §12.4).

def raw_http(port, request, timeout=5.0):
    """Sends raw request bytes, half-closes, returns (status or None, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except socket.timeout:
            pass
    if not data:
        return None, b""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_bad_input_changes_nothing(cps, tmp_path):
    art = tmp_path / "artifacts"
    (art / "plexd" / "1.5.0" / "linux").mkdir(parents=True)
    binary = os.urandom(3000)
    (art / "plexd" / "1.5.0" / "linux" / "amd64").write_bytes(binary)
    (art / "secret.txt").write_text("outside the artifact tree")
    (art / "plexd" / "1.5.0" / ".hidden").mkdir()
    (art / "plexd" / "1.5.0" / ".hidden" / "amd64").write_text("hidden")
    cp = cps("--artifacts", str(art))
    a = cp.register(hostname="a")
    b = cp.register(hostname="b")
    cp.cli("meta", "set", a["node_id"], "env=prod")
    cp.cli("secret", "set", a["node_id"], "s1", stdin=b"x")
    spare = cp.tokens(1)[0]
    # Artifact download works and is not compressed.
    r = cp.request("GET", "/v1/artifacts/plexd/1.5.0/linux/amd64", token=a["node_token"],
                   headers={"Accept-Encoding": "gzip", "Accept": "application/json"})
    assert r.status == 200 and r.body == binary and "content-encoding" not in r.headers
    assert r.headers["content-type"] == "application/octet-stream"
    json_error(cp.request("GET", "/v1/artifacts/plexd/1.5.0/linux/amd64"), 401)

    def snapshot():
        return (cp.cli("node", "list", "--all"), cp.state(a), cp.state(b), cp.cli("policy", "list"))

    before = snapshot()
    hb = a["node_id"]
    big = b'{"node_id":"' + hb.encode() + b'","pad":"' + b"x" * (17 * 1024 * 1024) + b'"}'
    bomb = gzip.compress(b"[" + b" " * (17 * 1024 * 1024) + b"]", 9)
    good_hb = json.dumps(heartbeat_body(a)).encode()
    cases = [
        # (what, method, path, body, headers, token, allowed statuses)
        ("malformed JSON", "POST", f"/v1/nodes/{hb}/heartbeat", b'{"node_id":', {}, a, (400,)),
        ("trailing garbage", "POST", f"/v1/nodes/{hb}/heartbeat", good_hb + b"}", {}, a, (400,)),
        ("body not an object", "POST", f"/v1/nodes/{hb}/heartbeat", b"[1,2]", {}, a, (400,)),
        ("wrong type", "PUT", f"/v1/nodes/{hb}/endpoint",
         b'{"public_endpoint":5,"nat_type":"none"}', {}, a, (400,)),
        ("bad endpoint", "PUT", f"/v1/nodes/{hb}/endpoint",
         b'{"public_endpoint":"not an endpoint","nat_type":"none"}', {}, a, (400,)),
        ("bad new_public_key", "POST", "/v1/keys/rotate",
         json.dumps({"node_id": hb, "new_public_key": "AAAA"}).encode(), {}, a, (400,)),
        ("truncated gzip", "POST", f"/v1/nodes/{hb}/heartbeat", gz(good_hb)[:-12],
         {"Content-Encoding": "gzip"}, a, (400,)),
        ("not gzip at all", "POST", f"/v1/nodes/{hb}/heartbeat", good_hb,
         {"Content-Encoding": "gzip"}, a, (400,)),
        ("bad gzip metrics", "POST", f"/v1/nodes/{hb}/metrics", b"\x1f\x8b\x08\x00garbage",
         {"Content-Encoding": "gzip"}, a, (400,)),
        ("br encoding", "POST", f"/v1/nodes/{hb}/heartbeat", good_hb, {"Content-Encoding": "br"}, a, (415,)),
        ("deflate encoding", "POST", f"/v1/nodes/{hb}/metrics", b"[]",
         {"Content-Encoding": "deflate"}, a, (415,)),
        ("oversized identity body", "POST", f"/v1/nodes/{hb}/heartbeat", big, {}, a, (413,)),
        ("gzip bomb > 16 MiB", "POST", f"/v1/nodes/{hb}/metrics", bomb,
         {"Content-Encoding": "gzip"}, a, (413,)),
        ("metrics not array", "POST", f"/v1/nodes/{hb}/metrics", b'{"group":"x"}', {}, a, (400,)),
        ("metrics record wrong type", "POST", f"/v1/nodes/{hb}/metrics",
         b'[{"timestamp":"2025-01-15T10:30:00Z","group":5,"data":{}}]', {}, a, (400,)),
        ("logs bad line", "POST", f"/v1/nodes/{hb}/logs", b'{"message":"x"}\n{not json}\n',
         {"Content-Type": "application/x-ndjson"}, a, (400,)),
        ("unknown node, unknown bearer", "POST", "/v1/nodes/n_unknown/heartbeat", good_hb, {},
         {"node_token": "x" * 64}, (401,)),
        ("report wrong types", "POST", f"/v1/nodes/{hb}/report", b'{"entries":5,"deleted":[]}', {}, a, (400,)),
        ("drift wrong types", "POST", f"/v1/nodes/{hb}/drift",
         b'{"timestamp":"yesterday","corrections":[]}', {}, a, (400,)),
        ("register bad token type, gzip", "POST", "/v1/register",
         gz(json.dumps({"token": [spare], "public_key": wg_public_key(), "hostname": "z"}).encode()),
         {"Content-Encoding": "gzip"}, None, (400,)),
        ("artifact dotdot", "GET", "/v1/artifacts/plexd/../../secret.txt", None, {}, a, (400, 404)),
        ("artifact encoded dotdot", "GET", "/v1/artifacts/plexd/%2e%2e/1.5.0/linux", None, {}, a, (400, 404)),
        ("artifact encoded slash", "GET", "/v1/artifacts/plexd/1.5.0%2Flinux/amd64/x", None, {}, a,
         (400, 404)),
        ("artifact encoded slash 2", "GET", "/v1/artifacts/plexd/..%2F..%2Fsecret.txt/x/y", None, {}, a,
         (400, 404)),
        ("artifact dot segment", "GET", "/v1/artifacts/plexd/./linux/amd64", None, {}, a, (400, 404)),
        ("artifact hidden", "GET", "/v1/artifacts/plexd/1.5.0/.hidden/amd64", None, {}, a, (400, 404)),
        ("artifact unknown", "GET", "/v1/artifacts/plexd/9.9.9/linux/amd64", None, {}, a, (404,)),
        ("artifact dir", "GET", "/v1/artifacts/plexd/1.5.0/linux/%2e", None, {}, a, (400, 404)),
        ("secret path trick", "GET", f"/v1/nodes/{hb}/secrets/..%2F..%2Fstate", None, {}, a, (400, 404)),
        ("unknown path", "GET", "/v1/nope", None, {}, a, (404, 405)),
    ]
    failures = []
    for what, method, path, body, headers, node, codes in cases:
        h = dict(headers)
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        tok = node["node_token"] if node else None
        if body is not None and len(body) > 1024 * 1024:
            r = cp.request_early(method, path, body, headers=h, token=tok)
        else:
            r = cp.request(method, path, body, headers=h, token=tok)
        assert r.body != binary and b"outside the artifact tree" not in r.body and b"hidden" != r.body
        try:
            json_error(r, *codes)
        except (AssertionError, ValueError) as e:
            failures.append(f"{what}: expected {codes} with a JSON error body, got {r} ({e})")
    assert not failures, "\n".join(failures)
    # A truncated body (Content-Length larger than what is sent before the client half-closes).
    st, body = raw_http(cp.port, (f"POST /v1/nodes/{hb}/heartbeat HTTP/1.1\r\nHost: x\r\n"
                                  f"Authorization: Bearer {a['node_token']}\r\n"
                                  "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
                                  ).encode() + good_hb[:40])
    assert st in (None, 400), (st, body)
    # A request line with a path trick straight on the socket (no client normalisation).
    st, body = raw_http(cp.port, (f"GET /v1/artifacts/plexd/1.5.0/../../../secret.txt HTTP/1.1\r\n"
                                  f"Host: x\r\nAuthorization: Bearer {a['node_token']}\r\n"
                                  "Connection: close\r\n\r\n").encode())
    assert st in (400, 404) and b"outside" not in body, (st, body)
    assert snapshot() == before, "rejected requests must not change any state"
    # The server is still healthy and the rejects consumed nothing.
    assert cp.request("GET", "/v1/ping").status == 200
    cp.register(token=spare, hostname="z")


# ---------------------------------------------------------------------------------------------
# Observability ingestion (E14-E16).

def test_observability_ingestion(cp):
    a = cp.register(hostname="obs")
    ts = "2025-01-15T10:30:00Z"
    metrics = [{"timestamp": ts, "group": "node_resources", "data": {"cpu_percent": 12.5}},
               {"timestamp": ts, "group": "peer_latency", "peer_id": "n_x", "data": {"rtt_ms": None}}]
    metrics2 = [{"timestamp": ts, "group": "agent_stats", "data": {"uptime_seconds": 7}}]
    logs = [{"timestamp": ts, "source": "journald", "unit": "sshd.service", "message": f"line {i} <&>",
             "severity": "info", "hostname": "obs"} for i in range(3)]
    audit = [{"timestamp": ts, "source": "auditd", "event_type": "SYSCALL",
              "subject": {"uid": 0, "gid": 0, "pid": 1}, "object": {"path": "/etc/shadow"},
              "action": "openat", "result": "success", "hostname": "obs", "raw": ""}]

    def ndjson(recs):
        return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in recs)

    gzj = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    gzl = {"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}
    sends = [("/metrics", gz(json.dumps(metrics).encode()), gzj),
             ("/metrics", gz(ndjson(metrics2)), gzl),
             ("/logs", gz(ndjson(logs[:2])), gzl),
             ("/logs", gz(json.dumps(logs[2:]).encode()), gzj),
             ("/audit", gz(ndjson(audit)), gzl),
             ("/audit", json.dumps(audit).encode(), {"Content-Type": "application/json"})]
    for suffix, body, headers in sends:
        r = cp.node_call(a, "POST", suffix, body, headers=headers)
        assert r.status == 202, (suffix, headers, r)

    def records(kind):
        return [x["record"] for x in cp.cli(kind, "query", a["node_id"])]

    got = records("metrics")
    assert sorted(json.dumps(x, sort_keys=True) for x in got) == \
        sorted(json.dumps(x, sort_keys=True) for x in metrics + metrics2)
    assert sorted(x["message"] for x in records("logs")) == [f"line {i} <&>" for i in range(3)]
    assert records("audit") == audit * 2
    # The other node's bearer cannot push into this node.
    b = cp.register()
    json_error(cp.node_call(a, "POST", "/logs", gz(ndjson(logs)), headers=gzl, token=b["node_token"]), 403)
    assert len(records("logs")) == 3


def test_error_bodies_have_short_code_and_message(cp):
    a = cp.register()
    hb = f"/v1/nodes/{a['node_id']}/heartbeat"
    good = json.dumps(heartbeat_body(a)).encode()
    failures = []
    for what, method, path, body, headers, codes in [
            ("malformed JSON", "POST", hb, b"{", {}, (400,)),
            ("bad gzip", "POST", hb, good, {"Content-Encoding": "gzip"}, (400,)),
            ("unsupported encoding", "POST", hb, good, {"Content-Encoding": "br"}, (415,)),
            ("gzip bomb", "POST", hb, gzip.compress(b" " * (17 * 1024 * 1024), 9),
             {"Content-Encoding": "gzip"}, (413,)),
            ("unknown path", "GET", "/v1/nope", None, {}, (404,)),
            ("wrong method", "DELETE", "/v1/ping", None, {}, (404, 405))]:
        r = cp.request(method, path, body, headers={"Content-Type": "application/json", **headers},
                       token=a["node_token"])
        try:
            json_error(r, *codes, strict=True)
        except (AssertionError, ValueError) as e:
            failures.append(f"{what}: {e}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# TLS (§2.2): `serve --tls-cert --tls-key` must serve HTTPS.

def make_self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = now_utc()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def test_tls_serving(plexcp_bin, tmp_path):
    import http.client
    import ssl
    import subprocess
    cert, key = make_self_signed(tmp_path)
    port = __import__("cpclient").free_port()
    log = open(tmp_path / "tls.log", "w")
    proc = subprocess.Popen([str(plexcp_bin), "serve", "--listen", f"127.0.0.1:{port}",
                             "--db", str(tmp_path / "cp.db"), "--admin-socket", str(tmp_path / "admin.sock"),
                             "--tls-cert", str(cert), "--tls-key", str(key)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2

        def ping():
            if proc.poll() is not None:
                raise AssertionError(f"plexcp exited: {(tmp_path / 'tls.log').read_text()}")
            try:
                c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=2)
                c.request("GET", "/v1/ping")
                r = c.getresponse()
                return r.status == 200 and json.loads(r.read()) == {"status": "ok"}
            except (OSError, ssl.SSLError):
                return False

        wait_for(ping, timeout=8, what="HTTPS ping")
        # Plain HTTP on the TLS port is not served.
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v1/ping")
            plain = c.getresponse().status
        except (OSError, http.client.HTTPException):
            plain = None
        assert plain != 200
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        log.close()


# ---------------------------------------------------------------------------------------------
# Lifecycle details: reconcile hints (§12.3), mesh IP cooldown (§4.4), oversized events (§5.2),
# the remaining node endpoints (E6, E9, E11-E13, E18-E20).

def test_reconcile_hint_and_mesh_ip_cooldown(cp, tmp_path):
    a = cp.register()
    b = cp.register()  # peer_added for a is not delivered: a has no stream
    r = cp.node_call(a, "POST", "/heartbeat", heartbeat_body(a))
    assert r.status == 200 and r.json().get("reconcile") is True, \
        f"an undelivered event must be followed by a reconcile request (§12.3): {r}"
    # Deregistered mesh IPs are not handed out again right away (§4.4 SHOULD, 1 h).
    assert cp.node_call(b, "POST", "/deregister").status == 200
    ips = {cp.register()["mesh_ip"] for _ in range(3)}
    assert b["mesh_ip"] not in ips
    # An event too large for one SSE line (> 65535 bytes) is replaced by a reconcile hint.
    s = cp.stream(a)
    try:
        (tmp_path / "big.json").write_text(json.dumps({"blob": "x" * 100000}))
        cp.cli("data", "set", a["node_id"], "big", "-f", str(tmp_path / "big.json"))
        s.quiet(0.8)
        assert s.parser.max_line <= 65535
        for e in s.events:
            check_event(e, a["signing_public_key"])
        hb = cp.node_call(a, "POST", "/heartbeat", heartbeat_body(a)).json()
        assert s.events or hb.get("reconcile") is True, "the node must learn that it should reconcile"
        assert cp.state(a)["data"][0]["payload"] == {"blob": "x" * 100000}
    finally:
        s.close()


def test_other_node_endpoints(cp):
    a = cp.register()
    caps = {"binary": {"version": "1.5.0", "checksum": "sha256:" + "cd" * 32},
            "builtin_actions": [{"name": "system.info", "description": "", "parameters": []}], "hooks": []}
    r = cp.node_call(a, "PUT", "/capabilities", caps)
    assert r.status == 200, r
    assert cp.cli("node", "show", a["node_id"])["capabilities"]["binary"]["version"] == "1.5.0"
    ts = now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")
    r = cp.node_call(a, "POST", "/drift", {"timestamp": ts, "corrections": [
        {"type": "peer_added", "detail": "peer n_x"}]})
    assert r.status == 200, r
    entry = {"key": "inventory", "content_type": "application/json", "payload": {"pkgs": 3},
             "version": 2, "updated_at": ts}
    assert cp.node_call(a, "POST", "/report", {"entries": [entry], "deleted": []}).status == 200
    older = dict(entry, version=1, payload={"pkgs": 1})
    assert cp.node_call(a, "POST", "/report", {"entries": [older], "deleted": []}).status == 200
    reports = cp.cli("node", "show", a["node_id"])["reports"]
    assert [(x["key"], x["version"], x["payload"]) for x in reports] == [("inventory", 2, {"pkgs": 3})]
    assert cp.node_call(a, "POST", "/report", {"entries": [], "deleted": ["inventory"]}).status == 200
    assert cp.cli("node", "show", a["node_id"])["reports"] == []
    # A locally triggered execution: unknown ID accepted, repeats idempotent (first kept).
    tb = {"type": "local_emergency", "session_id": "", "user_id": "", "email": ""}
    res = {"execution_id": "local_1", "status": "success", "exit_code": 0, "stdout": "ok\n",
           "stderr": "", "duration": "1.5s", "finished_at": ts, "triggered_by": tb}
    assert cp.node_call(a, "POST", "/executions/local_1/result", res).status == 200
    assert cp.node_call(a, "POST", "/executions/local_1/result", dict(res, stdout="second")).status == 200
    # A control-plane execution: ack twice, result with 1 MiB output accepted.
    s = cp.stream(a)
    try:
        cp.cli("action", "run", a["node_id"], "diagnostics.collect")
        p = check_event(s.wait_type("action_request"), a["signing_public_key"])["payload"]
    finally:
        s.close()
    x = p["execution_id"]
    for _ in range(2):
        assert cp.node_call(a, "POST", f"/executions/{x}/ack",
                            {"execution_id": x, "status": "accepted", "reason": ""}).status == 200
    big = "y" * (1024 * 1024) + "\n...[truncated]"
    r = cp.node_call(a, "POST", f"/executions/{x}/result",
                     gz(json.dumps(dict(res, execution_id=x, stdout=big, triggered_by={
                         "type": "control_plane", "session_id": "", "user_id": "", "email": ""})).encode()),
                     headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status == 200, r
    for suffix, body in [("/tunnels/sess_1/ready", {"listen_addr": "10.100.0.1:40000", "timestamp": ts}),
                         ("/tunnels/sess_1/closed", {"reason": "closed", "duration": "3m", "timestamp": ts}),
                         ("/integrity/violations", {"type": "binary", "path": "/usr/bin/plexd",
                                                    "expected_checksum": "sha256:" + "aa" * 32,
                                                    "actual_checksum": "bb" * 32, "detail": "changed",
                                                    "timestamp": ts})]:
        r = cp.node_call(a, "POST", suffix, body)
        assert r.status == 200, (suffix, r)


def test_replay_window_keeps_recent_events(cp):
    """§5.4: the CP keeps the events of at least the last 5 minutes (and at least 256)."""
    a = cp.register()
    b = cp.register()
    s = cp.stream(a)
    n = 300
    try:
        for i in range(n):
            r = cp.node_call(b, "PUT", "/endpoint", {"public_endpoint": f"198.51.100.{i % 250 + 1}:{40000 + i}",
                                                      "nat_type": "full_cone"})
            assert r.status == 200, r
        live = [s.next(what=f"event {k}") for k in range(n)]
    finally:
        s.close()
    assert all(e["event"] == "peer_endpoint_changed" for e in live)
    for first in (0, n - 257):
        r = cp.stream(a, last_event_id=live[first]["id"])
        try:
            got = [r.next(what="replayed event") for _ in range(n - 1 - first)]
            assert not r.quiet(0.2)
        finally:
            r.close()
        assert [e["raw"] for e in got] == [e["raw"] for e in live[first + 1:]]


def test_signing_key_transition_expires(cps):
    """§6.6 step 4: state reports {current, previous, transition_expires} until T, then {current}."""
    cp = cps("--signing-transition", "2s")
    a = cp.register()
    old = a["signing_public_key"]
    s = cp.stream(a)
    try:
        cp.cli("signing-key", "rotate")
        p = check_event(s.wait_type("signing_key_rotated"), old)["payload"]
    finally:
        s.close()
    st = cp.state(a)["signing_keys"]
    assert st == p and st["previous"] == old and st["current"] != old
    exp = datetime.datetime.fromisoformat(time_canon(st["transition_expires"]).replace("Z", "+00:00"))
    assert now_utc() < exp <= now_utc() + datetime.timedelta(seconds=3)
    wait_for(lambda: cp.state(a)["signing_keys"] == {"current": p["current"]}, timeout=5,
             what="previous key dropped from state after transition_expires", step=0.2)
    # Removing a node revokes its credential too.
    cp.cli("node", "remove", a["node_id"])
    json_error(cp.node_call(a, "GET", "/state"), 401)
