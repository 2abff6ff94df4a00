"""Client-side helpers for the plexcp integration tests and benchmark: a process wrapper for
`plexcp serve`, a small HTTP client, an incremental SSE parser (chunked transfer decoding
included) and an independent §6.3 canonicaliser, verifier (§6.4) and signer (§6.5) of event envelopes
written from the text of control-plane-api.md (it shares no code with plexcp or plexd). The
signer half serves fakecp.py, which plays the control plane towards plexd."""

import base64
import gzip
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


# ---------------------------------------------------------------------------------------------
# §6.3 canonical signing input, written from the spec text.

class EnvelopeError(ValueError):
    """The envelope must be rejected (§6.4)."""


_WS = b" \t\r\n"


def _skip_ws(b, i):
    while i < len(b) and b[i] in _WS:
        i += 1
    return i


def _scan_string(b, i):
    """b[i] is the opening quote; returns the index after the closing quote."""
    i += 1
    while i < len(b):
        c = b[i]
        if c == 0x5C:
            i += 2
        elif c == 0x22:
            return i + 1
        else:
            i += 1
    raise EnvelopeError("unterminated string")


def _scan_value(b, i):
    """Returns the end index (exclusive) of the JSON value starting at b[i]."""
    if i >= len(b):
        raise EnvelopeError("missing value")
    c = b[i]
    if c == 0x22:
        return _scan_string(b, i)
    if c in b"{[":
        depth = 0
        while i < len(b):
            c = b[i]
            if c == 0x22:
                i = _scan_string(b, i)
                continue
            if c in b"{[":
                depth += 1
            elif c in b"}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise EnvelopeError("unterminated container")
    j = i
    while j < len(b) and b[j] not in b",}] \t\r\n":
        j += 1
    if j == i:
        raise EnvelopeError("empty value")
    return j


def top_level_members(data):
    """Splits a JSON object text into {name: raw value bytes}; rejects duplicate members."""
    b = bytes(data)
    json.loads(b)  # must be valid JSON at all
    i = _skip_ws(b, 0)
    if i >= len(b) or b[i] != 0x7B:
        raise EnvelopeError("not an object")
    members = {}
    i = _skip_ws(b, i + 1)
    if i < len(b) and b[i] == 0x7D:
        return members
    while True:
        if b[i] != 0x22:
            raise EnvelopeError("member name expected")
        j = _scan_string(b, i)
        name = json.loads(b[i:j])
        i = _skip_ws(b, j)
        if b[i] != 0x3A:
            raise EnvelopeError("colon expected")
        i = _skip_ws(b, i + 1)
        j = _scan_value(b, i)
        if name in members:
            raise EnvelopeError(f"duplicate member {name}")
        members[name] = b[i:j]
        i = _skip_ws(b, j)
        if b[i] == 0x2C:
            i = _skip_ws(b, i + 1)
            continue
        if b[i] == 0x7D:
            break
        raise EnvelopeError("comma or } expected")
    if _skip_ws(b, i + 1) != len(b):
        raise EnvelopeError("trailing bytes")
    return members


def payload_canon(p):
    """PAYLOAD(p) of §6.3: one left-to-right pass over the received bytes (str is encoded;
    None stands for an absent payload member and gives b"null")."""
    if p is None:
        return b"null"
    p = p.encode() if isinstance(p, str) else bytes(p)
    json.loads(p)  # p MUST be a complete valid JSON value
    out = bytearray()
    i, n, instr = 0, len(p), False
    while i < n:
        c = p[i]
        if not instr:
            if c in _WS:
                i += 1
                continue
            out.append(c)
            if c == 0x22:
                instr = True
            i += 1
            continue
        if c == 0x5C:
            out += p[i:i + 2]
            i += 2
            continue
        if c == 0x22:
            out.append(c)
            instr = False
        elif c == 0x3C:
            out += b"\\u003c"
        elif c == 0x3E:
            out += b"\\u003e"
        elif c == 0x26:
            out += b"\\u0026"
        elif p[i:i + 3] == b"\xe2\x80\xa8":
            out += b"\\u2028"
            i += 3
            continue
        elif p[i:i + 3] == b"\xe2\x80\xa9":
            out += b"\\u2029"
            i += 3
            continue
        else:
            out.append(c)
        i += 1
    return bytes(out)


_TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                      r"(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII)


def time_canon(t, allow_unset=False):
    """TIME(t) of §6.3 for a str or bytes timestamp. Raises EnvelopeError for an invalid value,
    and for the unset value unless allow_unset (a signer may have to produce one on purpose)."""
    if isinstance(t, (bytes, bytearray)):
        t = bytes(t).decode()
    m = _TIME_RE.fullmatch(t)
    if not m:
        raise EnvelopeError(f"bad timestamp {t!r}")
    y, mo, d, hh, mi, ss = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    mdays = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not 1 <= mo <= 12 or not 1 <= d <= mdays[mo - 1] or hh > 23 or mi > 59 or ss > 59:
        raise EnvelopeError(f"bad timestamp {t!r}")
    zone = m.group(8)
    if zone != "Z":
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            raise EnvelopeError(f"bad offset {t!r}")
        if oh == 0 and om == 0:
            zone = "Z"
    frac = (m.group(7) or "")[:9].rstrip("0")
    out = t[:19] + ("." + frac if frac else "") + zone
    if out == "0001-01-01T00:00:00Z" and not allow_unset:
        raise EnvelopeError("unset issued_at")
    return out


def _header_safe(v):
    return isinstance(v, str) and 1 <= len(v) and all(0x20 <= ord(c) <= 0x7E and c not in '"\\<>&'
                                                      for c in v)


_ID_RE = re.compile(r"[A-Za-z0-9._~-]{1,128}", re.ASCII)


def si_build(event_type, event_id, issued_at, nonce, payload):
    """SI of §6.3 from the envelope values; payload: the exact payload bytes, None when the
    member is absent. Only header-safety is checked, so that a test can sign envelopes that a
    receiver must reject for another reason (an event_id that is no id, an unset issued_at)."""
    for name, v in (("event_type", event_type), ("event_id", event_id), ("nonce", nonce)):
        if not _header_safe(v):
            raise EnvelopeError(f"{name} not header-safe: {v!r}")
    return (b'{"event_type":"' + event_type.encode() + b'","event_id":"' + event_id.encode() +
            b'","issued_at":"' + time_canon(issued_at, allow_unset=True).encode() +
            b'","nonce":"' + nonce.encode() + b'","payload":' + payload_canon(payload) + b"}")


def signing_input(data):
    """Builds SI (§6.3) from the received envelope text, refusing what §6.4 refuses before the
    signature check; returns (SI, members dict)."""
    raw = top_level_members(data)
    vals = {}
    for name in ("event_type", "event_id", "nonce", "issued_at", "signature"):
        if name not in raw:
            raise EnvelopeError(f"missing {name}")
        v = json.loads(raw[name])
        if not isinstance(v, str) or not v:
            raise EnvelopeError(f"bad {name}")
        vals[name] = v
    for name in ("event_type", "event_id", "nonce"):
        if not _header_safe(vals[name]):
            raise EnvelopeError(f"{name} not header-safe")
    if not _ID_RE.fullmatch(vals["event_id"]) or vals["event_id"] in (".", ".."):
        raise EnvelopeError("event_id not an id")
    time_canon(vals["issued_at"])  # refuses the unset value, which si_build lets through
    si = si_build(vals["event_type"], vals["event_id"], vals["issued_at"], vals["nonce"],
                  raw.get("payload"))
    return si, vals


def ed25519_key(key32):
    raw = base64.b64decode(key32, validate=True)
    if len(raw) != 32:
        raise EnvelopeError("signing key is not 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_envelope(data, key32):
    """Verifies one envelope (bytes of the data: line) against a key32 public key. Returns the
    parsed envelope; raises EnvelopeError/InvalidSignature on failure."""
    si, vals = signing_input(data)
    sig = base64.b64decode(vals["signature"], validate=True)
    if len(sig) != 64:
        raise EnvelopeError("signature is not 64 bytes")
    ed25519_key(key32).verify(sig, si)
    return json.loads(data)


def verifies(data, key32):
    try:
        verify_envelope(data, key32)
        return True
    except (EnvelopeError, InvalidSignature, ValueError):
        return False


def ed25519_private_key(seed_or_key):
    """An Ed25519 private key from a 32-byte seed (bytes or hex) or a key object."""
    if isinstance(seed_or_key, Ed25519PrivateKey):
        return seed_or_key
    if isinstance(seed_or_key, str):
        seed_or_key = bytes.fromhex(seed_or_key)
    return Ed25519PrivateKey.from_private_bytes(seed_or_key)


def public_key_b64(priv):
    """key32 (base64) of the public half of a seed or private key."""
    raw = ed25519_private_key(priv).public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign_si(priv, si):
    """The §6.5 signature text over SI: standard base64 of the 64-byte Ed25519 signature."""
    return base64.b64encode(ed25519_private_key(priv).sign(si)).decode()


# ---------------------------------------------------------------------------------------------
# SSE over HTTP/1.1 (incremental, used blocking by the tests and non-blocking by the benchmark).

class Dechunker:
    """Incremental decoder of the chunked transfer coding."""

    def __init__(self):
        self.buf = bytearray()
        self.state = "size"
        self.remaining = 0
        self.done = False

    def feed(self, data):
        self.buf += data
        out = bytearray()
        while not self.done:
            if self.state == "size":
                j = self.buf.find(b"\r\n")
                if j < 0:
                    break
                size = int(bytes(self.buf[:j]).split(b";")[0], 16)
                del self.buf[:j + 2]
                if size == 0:
                    self.done = True
                    break
                self.remaining, self.state = size, "data"
            elif self.state == "data":
                take = min(self.remaining, len(self.buf))
                if take == 0:
                    break
                out += self.buf[:take]
                del self.buf[:take]
                self.remaining -= take
                if self.remaining == 0:
                    self.state = "crlf"
            else:
                if len(self.buf) < 2:
                    break
                if self.buf[:2] != b"\r\n":
                    raise ValueError("bad chunk terminator")
                del self.buf[:2]
                self.state = "size"
        return bytes(out)


class SSEParser:
    """§5.2 parser that also records what it saw, so the tests can check the CP's framing."""

    def __init__(self):
        self.pending = bytearray()
        self.block = None
        self.comments = []
        self.retries = []
        self.cr_seen = False
        self.max_line = 0
        self._reset()

    def _reset(self):
        self.block = {"id": None, "event": None, "data": [], "fields": []}

    def feed(self, text):
        """Returns the list of events dispatched by this chunk of stream bytes."""
        self.pending += text
        events = []
        while True:
            j = self.pending.find(b"\n")
            if j < 0:
                break
            line = bytes(self.pending[:j])
            del self.pending[:j + 1]
            if b"\r" in line:
                self.cr_seen = True
                line = line.rstrip(b"\r")
            self.max_line = max(self.max_line, len(line))
            if not line:
                if self.block["data"]:
                    ev = self.block
                    ev["raw"] = ev["data"][0] if len(ev["data"]) == 1 else b"\n".join(ev["data"])
                    events.append(ev)
                self._reset()
                continue
            if line.startswith(b":"):
                self.comments.append(line[1:].lstrip(b" ").decode())
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            self.block["fields"].append(name.decode())
            if name == b"id":
                self.block["id"] = value.decode()
            elif name == b"event":
                self.block["event"] = value.decode()
            elif name == b"data":
                self.block["data"].append(value)
            elif name == b"retry":
                self.retries.append(value.decode())
        return events


def read_http_head(sock, timeout):
    """Reads a response head; returns (status, headers lowercased, remaining bytes)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise ConnectionError(f"connection closed before response head: {buf!r}")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def stream_request(node_id, token, last_event_id=None, host="127.0.0.1"):
    h = [f"GET /v1/nodes/{node_id}/events HTTP/1.1", f"Host: {host}", "Accept: text/event-stream",
         "Cache-Control: no-cache", "User-Agent: plexd/test"]
    if token is not None:
        h.append(f"Authorization: Bearer {token}")
    if last_event_id is not None:
        h.append(f"Last-Event-ID: {last_event_id}")
    return ("\r\n".join(h) + "\r\n\r\n").encode()


class EventStream:
    """A blocking event stream connection (E2)."""

    def __init__(self, port, node_id, token, last_event_id=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(stream_request(node_id, token, last_event_id))
        self.status, self.headers, rest = read_http_head(self.sock, timeout)
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self.dechunk = Dechunker() if self.chunked else None
        self.parser = SSEParser()
        self.events = []
        self.queue = []
        self.closed = False
        self.body = b""
        if self.status != 200:
            self.body = rest
            self.sock.settimeout(1.0)
            try:
                while True:
                    d = self.sock.recv(65536)
                    if not d:
                        break
                    self.body += d
            except OSError:
                pass
            if self.chunked:
                self.body = Dechunker().feed(self.body)
            self.close()
        else:
            self._feed(rest)

    def _feed(self, data):
        if self.dechunk:
            data = self.dechunk.feed(data)
            if self.dechunk.done:  # last chunk: the response (the stream) has ended
                self.closed = True
        evs = self.parser.feed(data)
        self.events += evs
        self.queue += evs

    def poll(self, timeout):
        """Reads whatever arrives within timeout seconds (returns False on EOF)."""
        if self.closed:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return True
        if not d:
            self.closed = True
            return False
        self._feed(d)
        return not self.closed

    def next(self, timeout=5.0, what="event"):
        deadline = time.monotonic() + timeout
        while not self.queue:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            if not self.poll(left):
                raise AssertionError(f"stream closed while waiting for {what}")
        return self.queue.pop(0)

    def wait_type(self, event_type, timeout=5.0):
        """Next event of that type; events of other types before it are kept in skipped."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(deadline - time.monotonic(), 0.001), what=event_type)
            if ev["event"] == event_type:
                return ev

    def quiet(self, duration=0.3):
        """Reads for duration seconds and returns the events that arrived."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            if not self.poll(deadline - time.monotonic()):
                break
        q, self.queue = self.queue, []
        return q

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# HTTP requests and the plexcp process.

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(raw):
    return base64.b64encode(raw).decode()


def wg_public_key():
    k = X25519PrivateKey.generate().public_key()
    return b64(k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class PlexCP:
    """One `plexcp serve --insecure-http` on loopback, with its database in workdir."""

    def __init__(self, binary, workdir, extra=(), port=None, preexec_fn=None):
        self.binary = str(binary)
        self.workdir = str(workdir)
        self.db = os.path.join(self.workdir, "cp.db")
        self.sock = os.path.join(self.workdir, "admin.sock")
        self.extra = list(extra)
        self.port = port
        self.preexec_fn = preexec_fn
        self.proc = None
        self.log_path = os.path.join(self.workdir, "plexcp.log")
        self.starts = 0

    def start(self, timeout=15.0):
        self.port = self.port or free_port()
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.pop("PLEXCP_ADMIN_SOCKET", None)
        self.log = open(self.log_path, "a")
        self.starts += 1
        self.log.write(f"\n==== start {self.starts} ====\n")
        self.log.flush()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--db", self.db,
             "--insecure-http", "--admin-socket", self.sock, *self.extra],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"plexcp exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                if self.request("GET", "/v1/ping", timeout=1).status == 200 and os.path.exists(self.sock):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"plexcp did not come up:\n{self.log_text()}")

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("plexcp did not stop within %.0fs after %s" % (timeout, sig))
        finally:
            self.log.close()
        return rc

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sanitizer_reports(self):
        t = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in t]

    # -- admin CLI

    def cli_raw(self, *args, stdin=None, timeout=30):
        env = dict(os.environ)
        env.pop("PLEXCP_ADMIN_SOCKET", None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        return subprocess.run([self.binary, "--admin-socket", self.sock, *args], input=stdin,
                              capture_output=True, timeout=timeout, env=env)

    def cli(self, *args, stdin=None):
        r = self.cli_raw("--json", *args, stdin=stdin)
        assert r.returncode == 0, f"plexcp {' '.join(args)} failed ({r.returncode}): {r.stderr.decode()}"
        return json.loads(r.stdout) if r.stdout.strip() else None

    def tokens(self, count=1, ttl=None):
        args = ["token", "create", "--count", str(count)]
        if ttl:
            args += ["--ttl", ttl]
        return [t["token"] for t in self.cli(*args)["tokens"]]

    # -- node API

    def request(self, method, path, body=None, headers=None, token=None, timeout=10):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if hdrs.get("content-encoding") == "gzip":
                data = gzip.decompress(data)
            return Response(r.status, hdrs, data)
        finally:
            c.close()

    def request_early(self, method, path, body, headers=None, token=None, timeout=20):
        """Like request() for large bodies: stops sending as soon as the server answers (a
        server may reject on Content-Length and close before reading the body)."""
        h = {"Host": "127.0.0.1", "Content-Length": str(len(body)), "Connection": "close",
             **(headers or {})}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(head.encode())
            view, off, data = memoryview(body), 0, b""
            deadline = time.monotonic() + timeout
            while off < len(body) and time.monotonic() < deadline:
                r, w, _ = select.select([s], [s], [], 1.0)
                if r:
                    break
                if w:
                    try:
                        off += s.send(view[off:off + 262144])
                    except (BrokenPipeError, ConnectionResetError):
                        break
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    data += d
                    if b"\r\n\r\n" in data:
                        hd, _, rest = data.partition(b"\r\n\r\n")
                        m = re.search(rb"(?i)content-length:\s*(\d+)", hd)
                        if m and len(rest) >= int(m.group(1)):
                            break
            except (ConnectionResetError, socket.timeout):
                pass
        hd, _, rest = data.partition(b"\r\n\r\n")
        lines = hd.decode("latin-1").split("\r\n")
        if not lines[0]:
            raise ConnectionError("no response")
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if "chunked" in hdrs.get("transfer-encoding", ""):
            rest = Dechunker().feed(rest)
        return Response(int(lines[0].split()[1]), hdrs, rest)

    def register(self, token=None, hostname=None, public_key=None, expect=201, **extra):
        token = token if token is not None else self.tokens()[0]
        body = {"token": token, "public_key": public_key or wg_public_key(),
                "hostname": hostname or f"host-{os.urandom(4).hex()}", **extra}
        r = self.request("POST", "/v1/register", body)
        assert r.status == expect, r
        if expect != 201:
            return r
        node = r.json()
        node["hostname"] = body["hostname"]
        node["public_key"] = body["public_key"]
        return node

    def node_call(self, node, method, suffix, body=None, token=None, headers=None):
        return self.request(method, f"/v1/nodes/{node['node_id']}{suffix}", body, headers=headers,
                            token=node["node_token"] if token is None else token)

    def state(self, node):
        r = self.node_call(node, "GET", "/state")
        assert r.status == 200, r
        return r.json()

    def stream(self, node, last_event_id=None, token="", timeout=5.0):
        """Opens E2 for node; token "" = the node's own, None = no Authorization header."""
        return EventStream(self.port, node["node_id"], node["node_token"] if token == "" else token,
                           last_event_id, timeout)
