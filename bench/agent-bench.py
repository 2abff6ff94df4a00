#!/usr/bin/python3
"""Agent benchmarks with the real `plexd up` against tests/e2e/fakecp.py in a plexlab lab.

  memory   plexd's own VmRSS/RssAnon after converging on N peers (wireguard-go excluded, shown
           as the reference), and idle CPU over a window.
  latency  one signed peer_added event -> device applied, at N peers already configured.

Prints one "SUMMARY|metric|plexd|reference|ratio|target|verdict" line per result for
bench/run-all. Needs root, wireguard-go, wg; PLEXD_BUILD names a build with src/plexd/plexd
(a plain release build: ASan inflates memory several times).
"""

import argparse
import base64
import os
import re
import secrets
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

from fakecp import FakeCP  # noqa: E402
from plexlab import Lab, run, wait_until  # noqa: E402

MESH_IP = "10.100.0.10"
ALLOW_ALL = [{"id": "default-allow", "rules": [{"src": "*", "dst": "*", "action": "allow"}]}]


def key():
    return base64.b64encode(secrets.token_bytes(32)).decode()


def peer_ip(i):
    # 10.100.1.1 upwards, never the node's own 10.100.0.10.
    return f"10.100.{1 + i // 250}.{1 + i % 250}"


def make_peer(i, prefix="n_b"):
    ip = peer_ip(i)
    return {"id": f"{prefix}{i:06d}", "public_key": key(), "mesh_ip": ip,
            "endpoint": f"198.18.{(i // 250) % 256}.{1 + i % 250}:51820", "allowed_ips": [f"{ip}/32"],
            "psk": key()}


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[k] = int(v.split()[0])  # kB
    return out


def smaps_top(pid, n=12):
    """The mappings holding most resident memory: [(rss_kb, anon_kb, name)]."""
    rows, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                cur = [0, 0, parts[5] if len(parts) > 5 else "[anon]"]
                rows.append(cur)
            elif parts[0] == "Rss:":
                cur[0] = int(parts[1])
            elif parts[0] == "Anonymous:":
                cur[1] = int(parts[1])
    merged = {}
    for rss, anon, name in rows:
        m = merged.setdefault(os.path.basename(name), [0, 0])
        m[0] += rss
        m[1] += anon
    return sorted(((v[0], v[1], k) for k, v in merged.items()), reverse=True)[:n]


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def wireguard_go_pid(node):
    for pid in run(["ip", "netns", "pids", node.ns], check=False).stdout.split():
        if comm(pid) == "wireguard-go":
            return int(pid)
    raise RuntimeError("wireguard-go not found in the node namespace")


def summary(metric, value, ref, ratio, target, verdict):
    print(f"SUMMARY|{metric}|{value}|{ref}|{ratio}|{target}|{verdict}", flush=True)


def start_node(lab, n, reconcile):
    cp = FakeCP(lab, mesh_ip=MESH_IP, state={
        "peers": [make_peer(i) for i in range(n)], "policies": ALLOW_ALL,
        "signing_keys": {}})
    # signing_keys must carry this CP's key; FakeCP only knows it after construction.
    cp._initial_state["signing_keys"] = {"current": cp.public_key}
    cp.start()
    node = lab.add_node("n1")
    node.reconcile_interval = reconcile
    node.start(token="boot-" + secrets.token_hex(8))
    lab.wait_registered([node], timeout=30)
    cp.wait_stream(timeout=60)
    wait_until(lambda: len(node.wg_dump()) == n, 120, interval=0.5,
               what=f"{n} peers configured")
    wait_until(lambda: re.search(r"reconcile cycle", node.log_text()), 60,
               what="first reconcile cycle")
    if comm(node.proc.pid) != "plexd":
        raise RuntimeError(f"pid {node.proc.pid} is {comm(node.proc.pid)!r}, not plexd")
    return cp, node


def bench_memory(n, idle, reconcile):
    lab = Lab("bm")
    try:
        cp, node = start_node(lab, n, reconcile)
        time.sleep(2)  # let the post-convergence burst (drift report, heartbeat) pass
        pid, wpid = node.proc.pid, wireguard_go_pid(node)
        mem, wmem = proc_status(pid), proc_status(wpid)
        c0, w0, t0 = proc_cpu_s(pid), proc_cpu_s(wpid), time.monotonic()
        time.sleep(idle)
        c1, w1, t1 = proc_cpu_s(pid), proc_cpu_s(wpid), time.monotonic()
        mem_after = proc_status(pid)
        cpu = (c1 - c0) / (t1 - t0) * 100
        wcpu = (w1 - w0) / (t1 - t0) * 100
        mib = 1024.0
        print(f"  {n} peers: plexd VmRSS {mem['VmRSS'] / mib:.2f} MiB (RssAnon "
              f"{mem['RssAnon'] / mib:.2f}, RssFile {mem['RssFile'] / mib:.2f}, peak "
              f"{mem['VmHWM'] / mib:.2f}; after idle VmRSS {mem_after['VmRSS'] / mib:.2f}); "
              f"wireguard-go VmRSS {wmem['VmRSS'] / mib:.2f} MiB; idle CPU plexd {cpu:.2f}% "
              f"wireguard-go {wcpu:.2f}% over {t1 - t0:.0f} s", flush=True)
        if os.environ.get("PLEXD_BENCH_SMAPS"):
            for rss, anon, name in smaps_top(pid):
                print(f"    {rss:6d} kB resident ({anon:6d} kB anonymous)  {name}")
        ref = f"wireguard-go {wmem['VmRSS'] / mib:.2f} MiB"
        rss_ratio = f"{mem['VmRSS'] / wmem['VmRSS']:.2f}x"
        if n <= 1000:
            summary(f"plexd VmRSS at {n} peers", f"{mem['VmRSS'] / mib:.2f} MiB", ref, rss_ratio,
                    "<= 10 MiB", "PASS" if mem["VmRSS"] <= 10 * 1024 else "MISS")
            summary(f"plexd RssAnon at {n} peers", f"{mem['RssAnon'] / mib:.2f} MiB",
                    f"wireguard-go {wmem['RssAnon'] / mib:.2f} MiB",
                    f"{mem['RssAnon'] / wmem['RssAnon']:.2f}x", "<= 2 MiB",
                    "PASS" if mem["RssAnon"] <= 2 * 1024 else "MISS")
        else:
            summary(f"plexd VmRSS at {n} peers", f"{mem['VmRSS'] / mib:.2f} MiB", ref, rss_ratio,
                    "-", "info")
            summary(f"plexd RssAnon at {n} peers", f"{mem['RssAnon'] / mib:.2f} MiB",
                    f"wireguard-go {wmem['RssAnon'] / mib:.2f} MiB",
                    f"{mem['RssAnon'] / wmem['RssAnon']:.2f}x", "<= 8 MiB",
                    "PASS" if mem["RssAnon"] <= 8 * 1024 else "MISS")
        summary(f"plexd idle CPU at {n} peers ({t1 - t0:.0f} s, reconcile {reconcile})",
                f"{cpu:.2f}%", f"wireguard-go {wcpu:.2f}%",
                f"{cpu / wcpu:.2f}x" if wcpu > 0 else "-", "-", "info")
    finally:
        lab.cleanup()


LOG_TIME = re.compile(r"time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z")


def log_ms(line):
    """Epoch milliseconds of a plexd log line (time=...Z, millisecond precision)."""
    m = LOG_TIME.search(line)
    if not m:
        return None
    import datetime
    t = m.group(1)
    base = datetime.datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    frac = t[20:] if len(t) > 19 else "0"
    return base.timestamp() * 1000 + int((frac + "000")[:3])


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


def bench_latency(n, events):
    lab = Lab("bl")
    try:
        cp, node = start_node(lab, n, "60s")
        internal, external, wgset, parts = [], [], [], []
        for k in range(events):
            p = make_peer(100000 + k, prefix="n_e")
            p["mesh_ip"] = f"10.101.{k // 250}.{1 + k % 250}"
            p["allowed_ips"] = [p["mesh_ip"] + "/32"]
            eid = f"evt_bench{k:05d}"
            before = len(node.log_text())
            t_emit = time.time() * 1000
            cp.emit(cp.envelope("peer_added", p, event_id=eid))

            def applied():
                text = node.log_text()[before:]
                ev = ap = None
                timing = {}
                for line in text.splitlines():
                    if ev is None and 'msg="event"' in line and f"event_id={eid}" in line:
                        ev = log_ms(line)
                    elif ev is not None and 'msg="mesh apply timing"' in line:
                        timing = {k: int(v) / 1000 for k, v in
                                  re.findall(r"(\w+)_us=(\d+)", line)}
                    elif ev is not None and 'msg="mesh applied"' in line:
                        ap = log_ms(line)
                        break
                return (ev, ap, timing) if ap is not None else None
            ev, ap, timing = wait_until(applied, 10, interval=0.005, what=f"{eid} applied")
            internal.append(ap - ev)
            if timing:
                parts.append(timing)
            external.append(ap - t_emit)
        dump = node.wg_dump()
        if len(dump) != n + events:
            raise RuntimeError(f"device has {len(dump)} peers, expected {n + events}")
        # The standard tool on the same device and size: one `wg set` adding one peer.
        for k in range(max(10, events // 5)):
            pk, ip = key(), f"10.102.{k // 250}.{1 + k % 250}"
            t = time.monotonic()
            node.exec("wg", "set", node.ifname, "peer", pk, "endpoint", "198.19.0.1:51820",
                      "allowed-ips", f"{ip}/32")
            wgset.append((time.monotonic() - t) * 1000)
            node.exec("wg", "set", node.ifname, "peer", pk, "remove")
        p50, p99 = statistics.median(internal), pct(internal, 99)
        w50, w99 = statistics.median(wgset), pct(wgset, 99)
        print(f"  {events} peer_added events at {n} peers: event->applied (plexd log, 1 ms "
              f"resolution) p50 {p50:.0f} ms p99 {p99:.0f} ms max {max(internal):.0f} ms; "
              f"emit->applied incl. curl+netns exec p50 {statistics.median(external):.0f} ms "
              f"p99 {pct(external, 99):.0f} ms; `wg set` one peer p50 {w50:.1f} ms "
              f"p99 {w99:.1f} ms", flush=True)
        if parts:
            keys = ["build", "read", "diff", "write_routes", "total"]
            med = {k: statistics.median(p.get(k, 0) for p in parts) for k in keys}
            print(f"  inside mesh_apply (debug timing line, median ms): " +
                  ", ".join(f"{k} {med[k]:.1f}" for k in keys) +
                  f"; the rest of event->applied is the agent outside mesh_apply", flush=True)
        summary(f"peer_added -> applied p50 at {n} peers", f"{p50:.0f} ms",
                f"wg set {w50:.1f} ms", f"{p50 / w50:.2f}x", "-", "info")
        summary(f"peer_added -> applied p99 at {n} peers", f"{p99:.0f} ms",
                f"wg set {w99:.1f} ms", f"{p99 / w99:.2f}x", "<= 5 ms",
                "PASS" if p99 <= 5 else "MISS")
    finally:
        lab.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["memory", "latency"])
    ap.add_argument("--peers", type=int, nargs="+", default=[1000])
    ap.add_argument("--idle", type=float, default=30)
    ap.add_argument("--reconcile", default="60s", help="reconcile.interval during idle")
    ap.add_argument("--events", type=int, default=100)
    a = ap.parse_args()
    if a.mode == "memory":
        for n in a.peers:
            bench_memory(n, a.idle, a.reconcile)
    else:
        for n in a.peers:
            bench_latency(n, a.events)


if __name__ == "__main__":
    main()
