"""fakecp: a scriptable fake control plane for end-to-end tests (control-plane-api.md §4-§6).

Two halves in one file:

* The server (run as a script, normally inside a lab's hub namespace via `ip netns exec`):
  just what plexd needs — register, heartbeat, state, endpoint, drift, capabilities, execution
  ack, and the SSE event stream — plus /_test/* routes through which the test pushes raw SSE
  bytes (POST /_test/emit), replaces the state document (POST /_test/state), closes open streams
  (POST /_test/drop_streams) and reads counters and recorded drift/acks (GET /_test/info).
  It never signs anything: the test builds every envelope itself, so it controls signing
  exactly (forgeries, replays, ...).
* The test side: envelope building (§6.5) over cpclient.py's independent §6.3 canonicaliser
  and Ed25519 signer, SSE framing helpers, and FakeCP, which starts the server in a plexlab
  Lab and talks to it.

Standard library plus python3-cryptography only; run with /usr/bin/python3.
"""

import base64
import datetime
import gzip
import json
import os
import queue
import re
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Run as a script, sys.path[0] is this directory, so cpclient imports there too.
from cpclient import public_key_b64, si_build, sign_si, time_canon

# ================================================================================================
# Signing (§6.5): envelopes built over cpclient's §6.3 canonicalisation and Ed25519 signer,
# which are written from the spec text, independent of plexd and plexcp.
# ================================================================================================


def format_time(dt):
    """Aware datetime → canonical UTC timestamp with millisecond precision (§6.1 recommends)."""
    dt = dt.astimezone(datetime.timezone.utc)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}Z"
    return time_canon(s)


def now_time(offset_seconds=0.0):
    return format_time(datetime.datetime.now(datetime.timezone.utc)
                       + datetime.timedelta(seconds=offset_seconds))


def new_signing_key():
    """A fresh Ed25519 seed (32 bytes)."""
    return secrets.token_bytes(32)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def make_envelope(priv, event_type, payload, *, event_id=None, issued_at=None, nonce=None,
                  signature=None, sign_payload=None):
    """A signed envelope as transmitted (bytes, one line) per §6.5.

    payload: a JSON-serialisable object (sent compact) or the exact bytes to transmit.
    issued_at/nonce/event_id default to now / 16 random bytes hex / evt_<random>.
    signature: override the computed signature text (for bad-encoding tests).
    sign_payload: sign over these payload bytes instead of the transmitted ones (forgery)."""
    event_id = event_id or f"evt_{secrets.token_hex(6)}"
    issued_at = issued_at or now_time()
    nonce = nonce or secrets.token_hex(16)
    raw = payload if isinstance(payload, (bytes, bytearray)) else compact(payload)
    si = si_build(event_type, event_id, issued_at,
                  nonce, raw if sign_payload is None else sign_payload)
    sig = signature if signature is not None else sign_si(priv, si)
    env = (b'{"event_type":' + compact(event_type) + b',"event_id":' + compact(event_id)
           + b',"issued_at":' + compact(issued_at) + b',"nonce":' + compact(nonce)
           + b',"payload":' + bytes(raw) + b',"signature":' + compact(sig) + b"}")
    if b"\n" in env or b"\r" in env:
        raise ValueError("an envelope must fit on one data: line")
    return env


def sse_block(envelope, event_id=None, event_type=None):
    """One SSE event block (§5.2) carrying envelope as its single data: line."""
    if event_id is None or event_type is None:
        try:
            e = json.loads(envelope)
            event_id = event_id if event_id is not None else e.get("event_id")
            event_type = event_type if event_type is not None else e.get("event_type")
        except ValueError:
            pass
    out = b""
    if event_id:
        out += b"id: " + str(event_id).encode() + b"\n"
    if event_type:
        out += b"event: " + str(event_type).encode() + b"\n"
    return out + b"data: " + bytes(envelope) + b"\n\n"


# ================================================================================================
# Server
# ================================================================================================

class FakeState:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.node_id = args["node_id"]
        self.mesh_ip = args["mesh_ip"]
        self.signing_public_key = args["signing_public_key"]
        self.node_token = "pxn_" + secrets.token_urlsafe(32)
        self.node_secret_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.state_raw = args.get("state_raw") or compact({
            "peers": [],
            "policies": [{"id": "default-allow",
                          "rules": [{"src": "*", "dst": "*", "action": "allow"}]}],
            "signing_keys": {"current": self.signing_public_key},
        })
        self.streams = []  # queues of live SSE connections, oldest first
        self.counters = {"register": 0, "heartbeat": 0, "state": 0, "endpoint": 0,
                         "capabilities": 0, "streams_opened": 0, "unauthorized": 0}
        self.registered = None
        self.drift = []
        self.acks = []
        self.other = []
        self.last_event_ids = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakecp/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fakecp: %s %s\n" % (self.address_string(), fmt % args))

    @property
    def st(self):
        return self.server.fake

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    def _send(self, code, body=b"{}", ctype="application/json"):
        if not isinstance(body, (bytes, bytearray)):
            body = compact(body)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self):
        ok = self.headers.get("Authorization") == f"Bearer {self.st.node_token}"
        if not ok:
            with self.st.lock:
                self.st.counters["unauthorized"] += 1
            self._send(401, {"error": "unauthorized", "message": "unknown credential"})
        return ok

    def _node_path(self):
        """'heartbeat', 'executions/x/ack', … for /v1/nodes/<this node>/…; else None."""
        prefix = f"/v1/nodes/{self.st.node_id}/"
        path = self.path.split("?", 1)[0]
        return path[len(prefix):] if path.startswith(prefix) else None

    # --- routes ---------------------------------------------------------------------------
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/_test/info":
            with self.st.lock:
                info = {"node_id": self.st.node_id, "mesh_ip": self.st.mesh_ip,
                        "streams": len(self.st.streams), "counters": dict(self.st.counters),
                        "registered": self.st.registered, "drift": self.st.drift,
                        "acks": self.st.acks, "other": self.st.other,
                        "last_event_ids": self.st.last_event_ids}
            return self._send(200, info)
        if path == "/v1/ping":
            return self._send(200, {"status": "ok"})
        sub = self._node_path()
        if sub is None:
            return self._send(404, {"error": "not_found", "message": path})
        if not self._authorized():
            return
        if sub == "state":
            with self.st.lock:
                self.st.counters["state"] += 1
                body = self.st.state_raw
            return self._send(200, body)
        if sub == "events":
            return self._stream()
        return self._send(404, {"error": "not_found", "message": path})

    def do_POST(self):
        self._write_method()

    def do_PUT(self):
        self._write_method()

    def _write_method(self):
        path = self.path.split("?", 1)[0]
        body = self._body()
        if path.startswith("/_test/"):
            return self._test_route(path, body)
        if path == "/v1/register" and self.command == "POST":
            return self._register(body)
        sub = self._node_path()
        if sub is None:
            return self._send(404, {"error": "not_found", "message": path})
        if not self._authorized():
            return
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            return self._send(400, {"error": "bad_json", "message": "body is not JSON"})
        resp = {}
        with self.st.lock:
            if sub == "heartbeat":
                self.st.counters["heartbeat"] += 1
            elif sub == "endpoint":
                self.st.counters["endpoint"] += 1
                resp = {"peer_endpoints": []}
            elif sub == "capabilities":
                self.st.counters["capabilities"] += 1
            elif sub == "drift":
                self.st.drift.append(doc)
            elif re.fullmatch(r"executions/[^/]+/ack", sub):
                self.st.acks.append({"execution_id": sub.split("/")[1], "body": doc})
            else:
                self.st.other.append({"method": self.command, "path": sub, "body": doc})
        return self._send(200, resp)

    def _register(self, body):
        try:
            req = json.loads(body)
            token, pub = req["token"], req["public_key"]
            if not token or len(base64.b64decode(pub, validate=True)) != 32:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self._send(400, {"error": "bad_request", "message": "malformed register"})
        with self.st.lock:
            self.st.counters["register"] += 1
            self.st.registered = {"public_key": pub, "hostname": req.get("hostname")}
            resp = {"node_id": self.st.node_id, "mesh_ip": self.st.mesh_ip,
                    "signing_public_key": self.st.signing_public_key,
                    "node_secret_key": self.st.node_secret_key,
                    "node_token": self.st.node_token, "peers": []}
        return self._send(201, resp)

    def _stream(self):
        q = queue.Queue()
        with self.st.lock:
            old = list(self.st.streams)
            self.st.streams.append(q)
            self.st.counters["streams_opened"] += 1
            self.st.last_event_ids.append(self.headers.get("Last-Event-ID"))
        for o in old:  # §5.1: one stream per node, the newer one wins
            o.put(None)
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b": connected\n\n")
            self.wfile.flush()
            while True:
                try:
                    item = q.get(timeout=15)
                except queue.Empty:
                    item = b": keepalive\n\n"
                if item is None:
                    break
                self.wfile.write(item)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            with self.st.lock:
                if q in self.st.streams:
                    self.st.streams.remove(q)

    def _test_route(self, path, body):
        if path == "/_test/emit":
            with self.st.lock:
                streams = list(self.st.streams)
            if not streams:
                return self._send(409, {"error": "no_stream", "message": "no SSE stream open"})
            for q in streams:
                q.put(bytes(body))
            return self._send(200, {"delivered": len(streams)})
        if path == "/_test/state":
            with self.st.lock:
                self.st.state_raw = bytes(body)
            return self._send(200, {})
        if path == "/_test/drop_streams":
            with self.st.lock:
                streams = list(self.st.streams)
            for q in streams:
                q.put(None)
            return self._send(200, {"dropped": len(streams)})
        return self._send(404, {"error": "not_found", "message": path})


def serve(argv):
    import argparse
    ap = argparse.ArgumentParser(description="fake plexd control plane for tests")
    ap.add_argument("--listen", required=True, help="addr:port")
    ap.add_argument("--signing-public-key", required=True)
    ap.add_argument("--node-id", default="n_fake0001")
    ap.add_argument("--mesh-ip", default="10.100.0.10")
    ap.add_argument("--state-file", help="initial state document (raw bytes)")
    a = ap.parse_args(argv)
    state_raw = None
    if a.state_file:
        with open(a.state_file, "rb") as f:
            state_raw = f.read()
    host, port = a.listen.rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.fake = FakeState({"node_id": a.node_id, "mesh_ip": a.mesh_ip,
                          "signing_public_key": a.signing_public_key, "state_raw": state_raw})
    sys.stderr.write(f"fakecp: listening on {a.listen}\n")
    sys.stderr.flush()
    srv.serve_forever()


# ================================================================================================
# Test side
# ================================================================================================

class FakeCP:
    """The fake CP of one plexlab Lab: started in the hub namespace, driven with curl there."""

    def __init__(self, lab, signing_seed=None, node_id="n_fake0001", mesh_ip="10.100.0.10",
                 state=None):
        self.lab = lab
        self.seed = signing_seed or new_signing_key()
        self.node_id = node_id
        self.mesh_ip = mesh_ip
        self.url = f"http://{lab.hub_addr}:{lab.cp_port}"
        self.log_path = os.path.join(lab.tmp, "fakecp.log")
        self.proc = None
        self._initial_state = state

    @property
    def public_key(self):
        return public_key_b64(self.seed)

    def start(self):
        argv = ["ip", "netns", "exec", self.lab.hub, "/usr/bin/python3",
                os.path.abspath(__file__), "--listen", f"{self.lab.hub_addr}:{self.lab.cp_port}",
                "--signing-public-key", self.public_key, "--node-id", self.node_id,
                "--mesh-ip", self.mesh_ip]
        if self._initial_state is not None:
            path = os.path.join(self.lab.tmp, "fakecp-initial-state.json")
            with open(path, "wb") as f:
                f.write(self._raw(self._initial_state))
            argv += ["--state-file", path]
        self.log = open(self.log_path, "ab")
        self.proc = self.lab.spawn(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.info()
                return self
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"fakecp did not start:\n{self.log_text()}")
                time.sleep(0.05)

    def stop(self):
        if self.proc:
            self.lab.stop_process(self.proc)
            self.proc = None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    @staticmethod
    def _raw(doc):
        return doc if isinstance(doc, (bytes, bytearray)) else compact(doc)

    def _curl(self, method, route, body=None):
        argv = ["ip", "netns", "exec", self.lab.hub, "curl", "-sS", "--max-time", "5", "-X",
                method, "-w", "\n%{http_code}", f"{self.url}{route}"]
        if body is not None:
            argv[-1:-1] = ["--data-binary", "@-", "-H", "Content-Type: application/octet-stream"]
        r = subprocess.run(argv, input=body, capture_output=True, timeout=15)
        if r.returncode != 0:
            raise RuntimeError(f"curl {route}: {r.stderr.decode(errors='replace')}")
        text, _, code = r.stdout.rpartition(b"\n")
        return int(code), text

    def _call(self, method, route, body=None):
        code, text = self._curl(method, route, body)
        if code != 200:
            raise RuntimeError(f"fakecp {route}: HTTP {code}: {text!r}")
        return json.loads(text)

    def info(self):
        return self._call("GET", "/_test/info")

    def emit_raw(self, data):
        """Pushes raw bytes (one or more complete SSE blocks) to the open event stream."""
        return self._call("POST", "/_test/emit", bytes(data))

    def emit(self, envelope, event_id=None, event_type=None):
        return self.emit_raw(sse_block(envelope, event_id, event_type))

    def set_state(self, doc):
        """Replaces the state document: an object (sent compact) or raw bytes."""
        return self._call("POST", "/_test/state", self._raw(doc))

    def drift(self):
        return self.info()["drift"]

    def wait_stream(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.info()["streams"] > 0:
                return
            time.sleep(0.05)
        raise TimeoutError("plexd never opened the event stream")

    def envelope(self, event_type, payload, key=None, **kw):
        """A signed envelope; key defaults to this CP's current signing seed."""
        return make_envelope(key if key is not None else self.seed, event_type, payload, **kw)


if __name__ == "__main__":
    serve(sys.argv[1:])
