"""End-to-end tests of plexd's event handling against a fake control plane we fully control
(tests/e2e/fakecp.py): signed-envelope verification (control-plane-api.md §6.4) with forged,
replayed, stale, future, unknown-key, badly encoded and duplicate-member envelopes; signing key
rotation (§6.6, agent.md §5.9); invalid peer data in state documents (agent.md §5.1 Peers rules 6
and 7, §4.8); drift correction and the drift report (agent.md §5.6, §4.9).

The signer used here (fakecp.make_envelope over cpclient.py's §6.3 canonicaliser and Ed25519
signer, written from the spec text) is first checked against the §6.7 vectors. Each lab test
builds and removes its own namespaces and processes."""

import base64
import hashlib
import json
import os
import re
import time

import pytest
from cryptography.exceptions import InvalidSignature

from cpclient import (payload_canon, public_key_b64, si_build, sign_si, signing_input, time_canon,
                      verify_envelope)
from fakecp import FakeCP, make_envelope, new_signing_key, now_time
from plexlab import Lab, wait_until
from spec_vectors import VECTOR1, VECTOR1_SI, VECTOR2, VECTOR_KEY, VECTOR_SEED

# ================================================================================================
# Signer self-test against the spec vectors (§6.7); no lab needed.
# ================================================================================================


def test_signer_key_vector():
    assert public_key_b64(VECTOR_SEED) == VECTOR_KEY
    assert base64.b64decode(VECTOR_KEY).hex() == \
        "549226aa94cb24354c08d4deebc976026a7a42ccb08473bf6bf28fa951c1f1b4"


def test_signer_vector1():
    si, _ = signing_input(VECTOR1)
    assert si == VECTOR1_SI
    assert len(si) == 367
    assert hashlib.sha256(si).hexdigest() == \
        "e72dac63e49b462f14287ed4b45cd1bc1c36ee6b3c04585346efc8801ce40a43"
    sig = sign_si(VECTOR_SEED, si)
    assert base64.b64decode(sig).hex() == (
        "15de4f0257a7e41264638607c271c1d2b38656bb3f987d772a710e6518c34c5a"
        "6674087b396b376db840c6a2fc6591de80fc56595090f2e2ff9a8cd29f0b6208")
    assert sig == json.loads(VECTOR1)["signature"]
    assert verify_envelope(VECTOR1, VECTOR_KEY)


def test_signer_vector2():
    si, _ = signing_input(VECTOR2)
    assert si == VECTOR2[:VECTOR2.index(b',"signature"')] + b"}"
    assert len(si) == 358
    assert hashlib.sha256(si).hexdigest() == \
        "8b1889f1ee65a3ffd901ea30deecbd2effa2ed16c4197769a649e66e26d227a7"
    assert sign_si(VECTOR_SEED, si) == json.loads(VECTOR2)["signature"]
    # make_envelope reproduces the §5.2 data line byte for byte from the same values.
    env = make_envelope(VECTOR_SEED, "peer_added", json.loads(VECTOR2)["payload"],
                        event_id="evt_000043", issued_at="2025-01-15T10:30:05Z",
                        nonce="0d3b8e51f2a94c67a1e0b5d7c3f29e84")
    assert env == VECTOR2


@pytest.mark.parametrize("mutate, ok", [
    (lambda v: v.replace(b"8443", b"8443.0"), False),
    (lambda v: v.replace(b'"env"', b'"\\u0065nv"'), False),
    (lambda v: v.replace(b"\n", b"\n\t  ").replace(b": ", b" :   "), True),
    (lambda v: v.replace(b"10:30:00.250000Z", b"10:30:00.25+00:00"), True),
    (lambda v: v.replace(b"10:30:00.250000Z", b"10:30:00.26Z"), False),
    (lambda v: v.replace(b"6f1c2a9b", b"6f1c2a9c"), False),
])
def test_signer_vector1_mutations(mutate, ok):
    if ok:
        verify_envelope(mutate(VECTOR1), VECTOR_KEY)
    else:
        with pytest.raises(InvalidSignature):
            verify_envelope(mutate(VECTOR1), VECTOR_KEY)


@pytest.mark.parametrize("received, canon", [
    ("2025-01-15T10:30:00Z", "2025-01-15T10:30:00Z"),
    ("2025-01-15T10:30:00.250000Z", "2025-01-15T10:30:00.25Z"),
    ("2025-01-15T10:30:00.000Z", "2025-01-15T10:30:00Z"),
    ("2025-01-15T10:30:00+00:00", "2025-01-15T10:30:00Z"),
    ("2025-01-15T12:30:00+02:00", "2025-01-15T12:30:00+02:00"),
    ("2025-01-15T12:30:00.100200300400+02:00", "2025-01-15T12:30:00.1002003+02:00"),
])
def test_signer_time_table(received, canon):
    assert time_canon(received) == canon


@pytest.mark.parametrize("bad", ["2025-01-15 10:30:00Z", "2025-02-30T10:30:00Z",
                                 "2025-01-15T24:00:00Z", "2025-01-15t10:30:00z",
                                 "2025-01-15T10:30:00+24:00", "2025-01-15T10:30:00"])
def test_signer_time_rejects(bad):
    with pytest.raises(ValueError):
        time_canon(bad)


def test_signer_payload_rules():
    assert payload_canon(None) == b"null"
    assert payload_canon(b' { "a" : "x <&> \xe2\x80\xa8\xe2\x80\xa9" ,\n"b":[1 , 2.50] } ') \
        == b'{"a":"x \\u003c\\u0026\\u003e \\u2028\\u2029","b":[1,2.50]}'
    # escapes are never rewritten, whitespace inside strings is kept
    assert payload_canon(b'{"a":"\\"  \\/ \\u00e9"}') == b'{"a":"\\"  \\/ \\u00e9"}'
    with pytest.raises(ValueError):
        payload_canon(b'{"a":')
    with pytest.raises(ValueError):
        si_build("peer_added", "evt<1>", "2025-01-15T10:30:00Z", "n", b"{}")


# ================================================================================================
# Lab helpers
# ================================================================================================

ALLOW_ALL = [{"id": "default-allow", "rules": [{"src": "*", "dst": "*", "action": "allow"}]}]
MESH_IP = "10.100.0.10"


def wg_public_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    raw = X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def psk():
    return base64.b64encode(os.urandom(32)).decode()


def peer(pid, mesh_ip, *, public_key=None, allowed_ips=None, endpoint="", psk_value=""):
    return {"id": pid, "public_key": public_key or wg_public_key(), "mesh_ip": mesh_ip,
            "endpoint": endpoint, "allowed_ips": allowed_ips or [f"{mesh_ip}/32"],
            "psk": psk_value}


def state_doc(peers, signing_keys):
    return {"peers": peers, "policies": ALLOW_ALL, "signing_keys": signing_keys}


@pytest.fixture
def lab(plexd_bin):
    lab = Lab("ev")
    try:
        yield lab
    finally:
        lab.cleanup()


def start(lab, *, peers=(), reconcile="10m", state=None):
    """fakecp + one plexd node registered at it, event stream open, first reconcile done."""
    cp = FakeCP(lab, mesh_ip=MESH_IP)
    cp._initial_state = state if state is not None else state_doc(
        list(peers), {"current": cp.public_key})
    cp.start()
    node = lab.add_node("n1")
    node.reconcile_interval = reconcile
    node.start(token="boot-" + os.urandom(8).hex())
    lab.wait_registered([node], timeout=15)
    cp.wait_stream()
    wait_until(lambda: re.search(r"reconcile cycle", node.log_text()), 15,
               what="first reconcile cycle")
    return cp, node


def counts(node):
    c = node.status()["control"]
    return c["events_accepted"], c["events_rejected"]


def rejected_lines(node):
    return [ln for ln in node.log_text().splitlines() if 'msg="event rejected"' in ln]


def emit_and_wait(cp, node, envelope, expect, reason=None, **sse):
    """Sends one event and waits until plexd has counted it; expect is 'accepted'/'rejected'.
    A rejection must add exactly one `event rejected` log line, with reason=<reason>.
    Returns the new rejection log lines."""
    acc, rej = counts(node)
    logged = len(rejected_lines(node))
    cp.emit(envelope, **sse)
    acc2, rej2 = wait_until(lambda: (lambda c: c if c != (acc, rej) else None)(counts(node)),
                            10, what="event counted")
    got = "accepted" if (acc2, rej2) == (acc + 1, rej) else \
        "rejected" if (acc2, rej2) == (acc, rej + 1) else f"{(acc, rej)} -> {(acc2, rej2)}"
    assert got == expect, f"event {envelope[:160]!r}: {got}, expected {expect}"
    if expect != "rejected":
        return []
    new = wait_until(lambda: rejected_lines(node)[logged:], 5, what="rejection logged")
    time.sleep(0.05)
    new = rejected_lines(node)[logged:]
    assert len(new) == 1, new
    if reason:
        assert f"reason={reason} " in new[0] + " ", f"expected reason={reason}: {new[0]}"
    assert "level=warn" in new[0], new[0]
    return new


def peer_keys(node):
    return set(node.wg_dump())


# ================================================================================================
# Events
# ================================================================================================

def test_valid_peer_added(lab):
    cp, node = start(lab)
    assert peer_keys(node) == set()
    p = peer("n_peer0001", "10.100.1.1", endpoint="172.31.250.200:51820", psk_value=psk())
    emit_and_wait(cp, node, cp.envelope("peer_added", p), "accepted")
    dump = wait_until(lambda: node.wg_dump().get(p["public_key"]), 5, what="peer configured")
    assert dump["allowed_ips"] == "10.100.1.1/32"
    assert dump["endpoint"] == "172.31.250.200:51820"
    assert dump["psk"] == p["psk"]

    # Also accepted: a re-indented payload and a non-canonical (but valid) issued_at; plexd must
    # canonicalise both exactly as §6.3 says to reproduce the signed bytes.
    q = peer("n_peer0002", "10.100.1.2")
    pretty = json.dumps(q, indent=2).replace("\n", " ").encode()
    t = now_time()
    noncanon = t.replace("Z", "000+00:00") if "." in t else t.replace("Z", ".000+00:00")
    emit_and_wait(cp, node, cp.envelope("peer_added", pretty, issued_at=noncanon), "accepted")
    wait_until(lambda: q["public_key"] in peer_keys(node), 5, what="second peer configured")
    assert peer_keys(node) == {p["public_key"], q["public_key"]}

    info = cp.info()
    assert info["counters"]["register"] == 1 and info["counters"]["unauthorized"] == 0
    assert info["registered"]["hostname"] == node.name


def test_action_request_acked_once(lab):
    """control-plane-api.md §4.12/§8.11: an action_request is acknowledged (E12) within 5 s —
    this build has no actions, so with status "rejected" — and a replay of the same envelope
    is dropped without a second ack."""
    cp, node = start(lab)
    act = cp.envelope("action_request",
                      {"execution_id": "ex_0001", "action": "diagnostics.collect"})
    emit_and_wait(cp, node, act, "accepted")
    acks = wait_until(lambda: cp.info()["acks"], 5, what="execution ack (E12)")
    assert acks[0]["execution_id"] == "ex_0001"
    assert acks[0]["body"]["execution_id"] == "ex_0001"
    assert acks[0]["body"]["status"] in ("accepted", "rejected")
    emit_and_wait(cp, node, act, "rejected", "replay")
    time.sleep(0.5)
    assert len(cp.info()["acks"]) == 1


def test_rejected_events_change_nothing(lab):
    cp, node = start(lab)
    p = peer("n_peer0001", "10.100.1.1")
    added = cp.envelope("peer_added", p)
    emit_and_wait(cp, node, added, "accepted")
    wait_until(lambda: p["public_key"] in peer_keys(node), 5, what="peer configured")
    removed = cp.envelope("peer_removed", {"peer_id": p["id"]})
    emit_and_wait(cp, node, removed, "accepted")
    wait_until(lambda: peer_keys(node) == set(), 5, what="peer removed")
    baseline = node.wg_dump()
    _, rej0 = counts(node)

    intruder = peer("n_intruder", "10.100.1.66")
    other_key = new_signing_key()
    cases = []

    # REPLAY: the accepted peer_added, byte for byte (same nonce, same signature, new SSE id).
    cases.append(("replay", json.loads(added)["event_id"], added))
    # FORGED: a correctly signed event whose payload was altered afterwards.
    orig = peer("n_peer0003", "10.100.1.3")
    forged = cp.envelope("peer_added", intruder, sign_payload=json.dumps(orig).encode(),
                         event_id="evt_forged")
    cases.append(("bad_signature", "evt_forged", forged))
    # UNKNOWN KEY: well-formed and signed, but by a key plexd was never told about.
    cases.append(("bad_signature", "evt_unknownkey",
                  make_envelope(other_key, "peer_added", intruder, event_id="evt_unknownkey")))
    # STALE / FUTURE: correctly signed by the current key, issued_at 10 minutes off.
    cases.append(("stale", "evt_stale", cp.envelope("peer_added", intruder, event_id="evt_stale",
                                                     issued_at=now_time(-600))))
    cases.append(("future", "evt_future", cp.envelope("peer_added", intruder,
                                                      event_id="evt_future",
                                                      issued_at=now_time(600))))
    # BAD SIGNATURE ENCODING: not base64 of 64 bytes (too short; and not base64 at all).
    good = cp.envelope("peer_added", intruder, event_id="evt_badenc1")
    sig = json.loads(good)["signature"]
    cases.append(("bad_signature_encoding", "evt_badenc1",
                  good.replace(sig.encode(), base64.b64encode(base64.b64decode(sig)[:63]))))
    cases.append(("bad_signature_encoding", "evt_badenc2",
                  cp.envelope("peer_added", intruder, event_id="evt_badenc2",
                              signature="!!" + sig[2:])))
    # DUPLICATE MEMBERS: two payloads; the signature is valid for the one a last-wins parser
    # would use (and, in the second envelope, for the one a first-wins parser would use).
    harmless = json.dumps({"peer_id": "n_nobody"}).encode()
    for eid, signed_first in (("evt_dup_last", False), ("evt_dup_first", True)):
        env = cp.envelope("peer_added", intruder, event_id=eid)
        extra = b'"payload":' + harmless + b","
        i = env.index(b'"payload":')
        j = env.index(b',"signature"')
        if signed_first:  # signed payload first, harmless one after it
            dup = env[:j] + b"," + extra[:-1] + env[j:]
        else:
            dup = env[:i] + extra + env[i:]
        assert dup.count(b'"payload":') == 2
        cases.append(("malformed", eid, dup))
    # DUPLICATE event_type (second value is the one signed).
    env = cp.envelope("peer_added", intruder, event_id="evt_dup_type")
    cases.append(("malformed", "evt_dup_type",
                  env.replace(b'{"event_type":', b'{"event_type":"rotate_keys","event_type":', 1)))
    # §6.4 steps 2/3: missing nonce, unset issued_at, event_id not in id format, nonce not
    # header-safe (the last one carrying an otherwise valid signature).
    env = cp.envelope("peer_added", intruder, event_id="evt_nononce")
    nonce = json.loads(env)["nonce"]
    cases.append(("missing_field", "evt_nononce", env.replace(f',"nonce":"{nonce}"'.encode(), b"")))
    cases.append(("missing_field", "evt_unset",
                  cp.envelope("peer_added", intruder, event_id="evt_unset",
                              issued_at="0001-01-01T00:00:00Z")))
    cases.append(("bad_id", "evt/1", cp.envelope("peer_added", intruder, event_id="evt/1")))
    env = cp.envelope("peer_added", intruder, event_id="evt_nonce_unsafe")
    cases.append(("not_header_safe", "evt_nonce_unsafe",
                  env.replace(json.loads(env)["nonce"].encode(), b"ab\\u003ccd")))  # "ab<cd"

    for n, (reason, eid, env) in enumerate(cases, 1):
        emit_and_wait(cp, node, env, "rejected", reason, event_id=eid, event_type="peer_added")
        assert node.wg_dump() == baseline, f"{reason} ({eid}) changed the device"
        assert counts(node)[1] == rej0 + n

    # Still nothing after a moment (a handler could run asynchronously), and plexd still
    # accepts a genuine event afterwards: the stream survived every rejection.
    time.sleep(1)
    assert node.wg_dump() == baseline
    emit_and_wait(cp, node, cp.envelope("peer_added", p), "accepted")
    wait_until(lambda: peer_keys(node) == {p["public_key"]}, 5, what="genuine event applied")
    assert intruder["public_key"] not in peer_keys(node)
    with open(os.path.join(node.data_dir, "cache", "peers.json")) as f:
        assert "n_intruder" not in f.read()


def test_signing_key_rotation(lab):
    cp, node = start(lab)
    k1 = cp.seed
    k2, k3, k4 = new_signing_key(), new_signing_key(), new_signing_key()
    pk1, pk2 = public_key_b64(k1), public_key_b64(k2)
    peers = [peer(f"n_rot{i}", f"10.100.2.{i}") for i in range(1, 7)]

    transition = 8
    expires = now_time(transition)
    t_start = time.monotonic()
    keys = {"current": pk2, "previous": pk1, "transition_expires": expires}
    cp.set_state(state_doc([], keys))  # what a real CP reports from now on (§6.6 step 4)
    emit_and_wait(cp, node, make_envelope(k1, "signing_key_rotated", keys), "accepted")
    wait_until(lambda: "signing key rotated" in node.log_text(), 5, what="rotation logged")
    with open(os.path.join(node.data_dir, "signing_keys.json")) as f:
        stored = json.load(f)
    assert stored["current"] == pk2 and stored["previous"] == pk1

    # New key: accepted.
    emit_and_wait(cp, node, make_envelope(k2, "peer_added", peers[0]), "accepted")
    # Old key while the transition lasts: accepted.
    emit_and_wait(cp, node, make_envelope(k1, "peer_added", peers[1]), "accepted")
    wait_until(lambda: {peers[0]["public_key"], peers[1]["public_key"]} <= peer_keys(node), 5,
               what="peers from new and previous key configured")

    # A rotation signed by the PREVIOUS key (valid signature, inside the transition) is refused
    # (agent.md §5.9 rule 2): K3 must not become current.
    bad_rot = make_envelope(k1, "signing_key_rotated",
                            {"current": public_key_b64(k3), "previous": pk1,
                             "transition_expires": now_time(3600)}, event_id="evt_rot_by_prev")
    emit_and_wait(cp, node, bad_rot, "rejected", "signed_by_previous_key")
    emit_and_wait(cp, node, make_envelope(k3, "peer_added", peers[2], event_id="evt_k3"),
                  "rejected", "bad_signature")
    # A rotation signed by an unknown key changes nothing either.
    emit_and_wait(cp, node, make_envelope(k4, "signing_key_rotated",
                                          {"current": public_key_b64(k4)},
                                          event_id="evt_rot_unknown"), "rejected",
                  "bad_signature")
    emit_and_wait(cp, node, make_envelope(k2, "peer_added", peers[3]), "accepted")

    # After transition_expires the previous key is no longer accepted.
    time.sleep(max(0.0, transition + 1 - (time.monotonic() - t_start)))
    emit_and_wait(cp, node, make_envelope(k1, "peer_added", peers[4], event_id="evt_k1_late"),
                  "rejected", "bad_signature")
    emit_and_wait(cp, node, make_envelope(k2, "peer_added", peers[5]), "accepted")
    want = {peers[i]["public_key"] for i in (0, 1, 3, 5)}
    wait_until(lambda: peer_keys(node) == want, 5, what="exactly the accepted peers configured")

    # §6.6 step 6: a previous key without transition_expires is never accepted.
    k5 = new_signing_key()
    emit_and_wait(cp, node, make_envelope(k2, "signing_key_rotated",
                                          {"current": public_key_b64(k5), "previous": pk2}),
                  "accepted")
    emit_and_wait(cp, node, make_envelope(k2, "peer_added", peer("n_rot7", "10.100.2.7")),
                  "rejected", "bad_signature")
    emit_and_wait(cp, node, make_envelope(k5, "peer_added", peer("n_rot8", "10.100.2.8")),
                  "accepted")

    # agent.md §5.9 rule 4 / §5.6: a state whose signing_keys differ from the held set replaces
    # it, and the cycle reports signing_keys_updated.
    k6 = new_signing_key()
    cp.set_state(state_doc([], {"current": public_key_b64(k6)}))
    emit_and_wait(cp, node, make_envelope(k5, "policy_updated", {}), "accepted")  # reconcile now
    wait_until(lambda: any(c["type"] == "signing_keys_updated"
                           for r in cp.drift() for c in r["corrections"]), 10,
               what="signing_keys_updated drift report")
    emit_and_wait(cp, node, make_envelope(k5, "peer_added", peer("n_rot9", "10.100.2.9")),
                  "rejected", "bad_signature")
    emit_and_wait(cp, node, make_envelope(k6, "policy_updated", {}), "accepted")


def test_rotation_without_previous_keeps_replaced_key(lab):
    """agent.md §5.9 rule 2 ("previous := current, current := new key, transition_expires :=
    from the event") and control-plane-api.md §6.6 step 5 ("current := K2, previous := K1"):
    the replaced key stays valid until transition_expires even when the payload omits the
    optional `previous` member (§7.2 marks it optional)."""
    cp, node = start(lab)
    k1, k2 = cp.seed, new_signing_key()
    emit_and_wait(cp, node, make_envelope(k1, "signing_key_rotated",
                                          {"current": public_key_b64(k2),
                                           "transition_expires": now_time(3600)}), "accepted")
    emit_and_wait(cp, node, make_envelope(k2, "peer_added", peer("n_new", "10.100.6.1")),
                  "accepted")
    with open(os.path.join(node.data_dir, "signing_keys.json")) as f:
        stored = json.load(f)
    assert stored.get("previous") == public_key_b64(k1), f"replaced key dropped: {stored}"
    emit_and_wait(cp, node, make_envelope(k1, "peer_added", peer("n_old", "10.100.6.2")),
                  "accepted")


def test_rejection_log_names_event(lab):
    """agent.md §4.5: a rejected event is dropped and a `warn` is logged *with event type and
    id*. Checked for rejections after the envelope has been parsed (stale, bad signature,
    replay), where both values are known."""
    cp, node = start(lab)
    cases = [("stale", cp.envelope("peer_added", peer("n_a", "10.100.7.1"),
                                   event_id="evt_named_stale", issued_at=now_time(-600))),
             ("bad_signature", make_envelope(new_signing_key(), "peer_removed",
                                             {"peer_id": "n_a"}, event_id="evt_named_badsig"))]
    for reason, env in cases:
        line = emit_and_wait(cp, node, env, "rejected", reason)[0]
        e = json.loads(env)
        assert f"event_type={e['event_type']} " in line and \
            f"event_id={e['event_id']}" in line, f"rejection log does not name the event: {line}"


# ================================================================================================
# State documents (agent.md §5.1 rules 6/7, control-plane-api.md §4.8) and drift (§5.6)
# ================================================================================================

def reconcile_now(cp, node):
    """A signed policy_updated without policies is a reconcile hint (§7.2): no 5 s wait."""
    emit_and_wait(cp, node, cp.envelope("policy_updated", {}), "accepted")


def test_state_bad_input_skipped_rest_applied(lab):
    good = peer("n_good", "10.100.3.1")
    bad_key = peer("n_badkey", "10.100.3.2", public_key="bm90IGEga2V5")  # base64 of 9 bytes
    bad_psk = peer("n_badpsk", "10.100.3.3", psk_value="AAAA")
    bad_ip = peer("n_badip", "10.100.3.8", allowed_ips=["10.100.3.8/33"])
    covers = peer("n_covers", "10.100.3.4", allowed_ips=["10.100.3.4/32", "10.100.0.0/24"])
    # Overlap (rule 7): listed larger id first so input order cannot be what decides.
    zzz = peer("n_zzz", "10.100.3.6", allowed_ips=["10.100.3.6/32", "10.200.0.0/16"])
    aaa = peer("n_aaa", "10.100.3.5", allowed_ips=["10.100.3.5/32", "10.200.7.0/24"])
    cp, node = start(lab, peers=[good, bad_key, bad_psk, bad_ip, covers, zzz, aaa])
    valid = {good["public_key"], aaa["public_key"], zzz["public_key"]}

    dump = wait_until(lambda: (lambda d: d if valid <= set(d) else None)(node.wg_dump()), 10,
                      what="valid peers configured")
    assert set(dump) == valid
    assert sorted(dump[aaa["public_key"]]["allowed_ips"].split(",")) == \
        ["10.100.3.5/32", "10.200.7.0/24"]
    assert dump[zzz["public_key"]]["allowed_ips"] == "10.100.3.6/32"
    assert dump[good["public_key"]]["allowed_ips"] == "10.100.3.1/32"

    errors = [ln for ln in node.log_text().splitlines() if "level=error" in ln]
    want = [r"peers\[1\]\.public_key", r"peers\[2\]\.psk", r"peers\[3\]\.allowed_ips",
            r"peer skipped.*peer=n_covers.*covers own mesh IP",
            r"peer allowed IP dropped.*peer=n_zzz.*10\.200\.0\.0/16 overlaps"]
    for w in want:
        assert any(re.search(w, ln) for ln in errors), f"no error log matching {w}: {errors}"
    assert not any(re.search(r"n_aaa|n_good", ln) for ln in errors), errors
    for k in (bad_key["public_key"], bad_psk["psk"]):
        assert k not in node.log_text(), "key material logged"

    # Malformed state documents change nothing: not JSON, peers not an array, not an object,
    # policies not an array. Each is followed by an immediate reconcile.
    before = node.wg_dump()
    for n, raw in enumerate([b"this is not json {", b'{"peers":{"id":"x"},"policies":[]}',
                             b"[1,2,3]", b'{"peers":[],"policies":{"id":"p"}}']):
        failed = node.log_text().count("state fetch failed")
        cp.set_state(raw)
        reconcile_now(cp, node)
        wait_until(lambda: node.log_text().count("state fetch failed") > failed, 10,
                   what=f"malformed state #{n} rejected")
        after = node.wg_dump()
        assert set(after) == set(before), f"malformed state {raw!r} changed peers"
        for k in before:
            assert after[k]["allowed_ips"] == before[k]["allowed_ips"]
    # A well-formed state is applied again afterwards: only n_good remains.
    cp.set_state(state_doc([good], {"current": cp.public_key}))
    reconcile_now(cp, node)
    wait_until(lambda: peer_keys(node) == {good["public_key"]}, 10,
               what="valid state applied after the malformed ones")


def test_drift_restored_and_reported(lab):
    p1 = peer("n_drift1", "10.100.4.1", endpoint="172.31.250.201:51820", psk_value=psk())
    p2 = peer("n_drift2", "10.100.4.2", endpoint="172.31.250.202:51820")
    cp, node = start(lab, reconcile="5s", peers=[p1, p2])
    # Fully configured: a fresh peer may first be added without its keepalive (the handshake
    # stagger, mesh_set_stagger) and get it a moment later.
    wait_until(lambda: all(node.wg_dump().get(p["public_key"], {}).get("keepalive") == "7"
                           for p in (p1, p2)), 10, what="peers configured")
    want = node.wg_dump()
    n_reports = len(cp.drift())

    # One wg invocation, so both changes land between the same two reconcile cycles.
    node.exec("wg", "set", node.ifname, "peer", p1["public_key"], "remove",
              "peer", p2["public_key"], "endpoint", "1.2.3.4:9")
    assert p1["public_key"] not in node.wg_dump()
    assert node.wg_dump()[p2["public_key"]]["endpoint"] == "1.2.3.4:9"

    def restored():
        d = node.wg_dump()
        return (p1["public_key"] in d and d[p2["public_key"]]["endpoint"] == p2["endpoint"]
                and d[p1["public_key"]]["psk"] == p1["psk"])
    wait_until(restored, 12, interval=0.2, what="device restored by reconcile")
    d = node.wg_dump()
    for k in (p1["public_key"], p2["public_key"]):
        assert {f: d[k][f] for f in ("psk", "endpoint", "allowed_ips", "keepalive")} == \
            {f: want[k][f] for f in ("psk", "endpoint", "allowed_ips", "keepalive")}

    reports = wait_until(lambda: cp.drift()[n_reports:] or None, 5, what="drift report")
    corrections = [c for r in reports for c in r["corrections"]]
    for r in reports:
        assert r["corrections"], "empty drift report sent"
        time_canon(r["timestamp"])
    # Exactly the two hand-made differences, nothing else (no spurious corrections).
    assert sorted((c["type"], re.search(r"n_drift\d", c["detail"]).group(0))
                  for c in corrections) == [("peer_added", "n_drift1"),
                                            ("peer_updated", "n_drift2")], corrections
    assert all(p1["psk"] not in json.dumps(r) for r in reports), "PSK leaked into drift report"


def test_stream_reconnect_sends_last_event_id(lab):
    """§5.4 / agent.md §4.5 rule 1: after a dropped stream plexd reconnects with Last-Event-ID =
    the last id: it received, even when that event was rejected; the reconnect triggers an
    immediate reconcile (§5.5)."""
    cp, node = start(lab)
    assert cp.info()["last_event_ids"] == [None]
    emit_and_wait(cp, node, cp.envelope("peer_added", peer("n_a", "10.100.8.1"),
                                        event_id="evt_000101"), "accepted")
    emit_and_wait(cp, node, make_envelope(new_signing_key(), "peer_added",
                                          peer("n_b", "10.100.8.2"), event_id="evt_000102"),
                  "rejected", "bad_signature")
    fetches = cp.info()["counters"]["state"]
    cp._call("POST", "/_test/drop_streams", b"")
    wait_until(lambda: cp.info()["counters"]["streams_opened"] >= 2, 10, what="stream reopened")
    info = cp.info()
    assert info["last_event_ids"][-1] == "evt_000102", info["last_event_ids"]
    wait_until(lambda: cp.info()["counters"]["state"] > fetches, 10,
               what="reconcile after reconnect")
