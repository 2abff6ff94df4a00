#!/usr/bin/python3
"""Benchmark: fan-out latency and per-stream memory of plexcp with many idle event streams.

Registers N nodes through the node API (tokens from `plexcp token create --count`), opens one
event stream (E2) per node from this single process (non-blocking sockets + selectors, so the
client is not the bottleneck), then triggers
  1. a policy change (`plexcp policy set -f`)        -> policy_updated on every stream
  2. a peer change (registration of one more node)   -> peer_added on every stream
and reports, per trigger, the time from the trigger to each stream receiving its event
(p50/p99/max; the max is the time until the LAST stream has it), plus plexcp's VmRSS growth per
idle stream (/proc/<pid>/status). Every received envelope is verified afterwards (Ed25519 over
the §6.3 signing input, cpclient.py). Target: all N streams within 1 s.

Not a test; run via bench/run-plexcp-streams.sh."""

import argparse
import json
import os
import pathlib
import resource
import selectors
import shutil
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from cpclient import (Dechunker, PlexCP, SSEParser, read_http_head, stream_request,  # noqa: E402
                      verify_envelope, wg_public_key)

TARGET_S = 1.0


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = min(max(want, soft), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Conn:
    __slots__ = ("node", "sock", "head", "status", "dechunk", "parser", "connected", "events")

    def __init__(self, node, sock):
        self.node, self.sock = node, sock
        self.head = b""
        self.status = None
        self.dechunk = None
        self.parser = SSEParser()
        self.connected = False
        self.events = []  # (monotonic arrival time, event dict)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plexcp", default=os.environ.get("PLEXCP_BIN", "build-cpbench/src/plexcp/plexcp"))
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = ap.parse_args()
    n = args.streams
    assert 1 <= n <= 5000

    nofile = raise_nofile(2 * n + 256)
    if nofile < n + 64:
        sys.exit(f"RLIMIT_NOFILE {nofile} too low for {n} streams")

    def child_limits():
        raise_nofile(2 * n + 256)

    tmp = tempfile.mkdtemp(prefix="plexcp-bench-")
    cp = PlexCP(args.plexcp, tmp, ["--heartbeat-interval", "1h", "--log-level", "warning"],
                preexec_fn=child_limits)
    cp.start()
    conns = []
    sel = selectors.DefaultSelector()
    try:
        pid = cp.proc.pid
        print(f"plexcp {args.plexcp} pid {pid}, {n} streams, RLIMIT_NOFILE {nofile}")
        # -- register n nodes through the API
        t = time.monotonic()
        tokens = []
        while len(tokens) < n:
            tokens += cp.tokens(min(1000, n - len(tokens)))
        nodes = []
        for i, tok in enumerate(tokens):
            nodes.append(cp.register(token=tok, hostname=f"bench-{i:05d}"))
        print(f"registered {n} nodes in {time.monotonic() - t:.1f} s")
        rss_before = vm_rss_kib(pid)

        # -- open n streams
        t = time.monotonic()
        for node in nodes:
            s = socket.create_connection(("127.0.0.1", cp.port))
            s.sendall(stream_request(node["node_id"], node["node_token"]))
            s.setblocking(False)
            c = Conn(node, s)
            conns.append(c)
            sel.register(s, selectors.EVENT_READ, c)

        def pump(timeout):
            now = None
            for key, _ in sel.select(timeout):
                c = key.data
                try:
                    d = c.sock.recv(262144)
                except BlockingIOError:
                    continue
                now = time.monotonic()
                if not d:
                    raise RuntimeError(f"stream of {c.node['node_id']} closed")
                if c.status is None:
                    c.head += d
                    if b"\r\n\r\n" not in c.head:
                        continue
                    hd, _, d = c.head.partition(b"\r\n\r\n")
                    c.status = int(hd.split()[1])
                    if c.status != 200:
                        raise RuntimeError(f"stream status {c.status}: {c.head!r}")
                    if b"chunked" in hd.lower():
                        c.dechunk = Dechunker()
                if c.dechunk:
                    d = c.dechunk.feed(d)
                for ev in c.parser.feed(d):
                    c.events.append((now, ev))
                if c.parser.comments:
                    c.connected = True

        deadline = time.monotonic() + 60
        while not all(c.connected for c in conns):
            if time.monotonic() > deadline:
                raise RuntimeError("streams did not all connect within 60 s")
            pump(0.5)
        print(f"opened {n} streams in {time.monotonic() - t:.2f} s")
        idle_until = time.monotonic() + 2.0
        while time.monotonic() < idle_until:
            pump(0.2)
        rss_after = vm_rss_kib(pid)
        for c in conns:
            c.events.clear()

        results = {}

        def measure(name, event_type, trigger):
            for c in conns:
                c.events.clear()
            t0 = time.monotonic()
            trigger()
            deadline = t0 + 30
            while True:
                got = [next((at for at, ev in c.events if ev["event"] == event_type), None) for c in conns]
                if all(g is not None for g in got):
                    break
                if time.monotonic() > deadline:
                    missing = sum(g is None for g in got)
                    raise RuntimeError(f"{name}: {missing} streams did not get {event_type} in 30 s")
                pump(0.05)
            lat = [g - t0 for g in got]
            results[name] = lat
            # Verify every received envelope with the independent verifier (after timing).
            key = nodes[0]["signing_public_key"]
            for c in conns:
                for _, ev in c.events:
                    verify_envelope(ev["raw"], key)
            print(f"{name:14s} -> {event_type:16s} p50 {statistics.median(lat) * 1000:8.1f} ms   "
                  f"p99 {pct(lat, 99) * 1000:8.1f} ms   max {max(lat) * 1000:8.1f} ms   "
                  f"{'OK' if max(lat) <= TARGET_S else 'OVER TARGET'} (target <= {TARGET_S:.0f} s)")

        pol = pathlib.Path(tmp) / "policy.json"
        pol.write_text(json.dumps([{"id": "bench-allow", "rules": [{"src": "*", "dst": "*", "action": "allow"}]}]))
        extra_tok = cp.tokens(1)[0]
        measure("policy set", "policy_updated", lambda: cp.cli("policy", "set", "-f", str(pol)))
        measure("register node", "peer_added",
                lambda: cp.register(token=extra_tok, hostname="bench-extra", public_key=wg_public_key()))
        per_stream = (rss_after - rss_before) / n
        print(f"plexcp VmRSS: {rss_before} KiB with {n} nodes and no stream, {rss_after} KiB with {n} idle "
              f"streams -> {per_stream:.1f} KiB per idle stream")
        ok = all(max(v) <= TARGET_S for v in results.values())
        print("RESULT:", "all streams within target" if ok else "target missed")
        return 0 if ok else 1
    finally:
        for c in conns:
            try:
                c.sock.close()
            except OSError:
                pass
        cp.stop()
        if cp.sanitizer_reports():
            print("sanitizer reports in", cp.log_path)
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
