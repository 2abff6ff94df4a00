#!/bin/sh
# Relay benchmark: UDP throughput (1420-byte datagrams) and round-trip latency, direct vs through
# the src/bridge relay, on loopback inside a private network namespace; prints both runs and the
# ratios. Usage: bench/run-relay.sh [build-dir]   (default: build-bench, a release build made here)
# Needs root (namespace). Uses only the relay-run target of the build.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-bench}
if [ ! -d "$build" ]; then
	meson setup "$build" "$src" --buildtype=release -Dtests=enabled >/dev/null
fi
ninja -C "$build" src/bridge/relay-run >/dev/null
tmp=$(mktemp -d)
ns=pxnbench$$
cleanup() {
	[ -n "${relay:-}" ] && kill "$relay" 2>/dev/null && wait "$relay" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
cc -O2 -o "$tmp/relay-bench" "$src/bench/relay-bench.c" -lpthread
ip netns add "$ns"
ip -n "$ns" link set lo up
A=127.0.0.2:40001 B=127.0.0.3:40002
ip netns exec "$ns" "$build/src/bridge/relay-run" --bind 127.0.0.1 --port-base 52000 --max-sessions 4 \
	--session "s1,$A,$B,52000" >"$tmp/relay.out" 2>"$tmp/relay.err" &
relay=$!
i=0
until grep -q ready "$tmp/relay.out"; do i=$((i + 1)); [ $i -lt 50 ] || exit 1; sleep 0.1; done
direct=$(ip netns exec "$ns" "$tmp/relay-bench" "$A" "$B")
relayed=$(ip netns exec "$ns" "$tmp/relay-bench" "$A" "$B" 127.0.0.1:52000)
echo "$direct"
echo "$relayed"
/usr/bin/python3 - "$direct" "$relayed" <<'PY'
import json, sys
d, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"relay/direct throughput: {r['pps'] / d['pps']:.2f}x pps ({r['mbps']:.0f} vs {d['mbps']:.0f} Mbit/s)")
print(f"relay latency: p50 {r['rtt_p50_us']:.1f} us vs {d['rtt_p50_us']:.1f} us direct "
      f"(+{r['rtt_p50_us'] - d['rtt_p50_us']:.1f} us per round trip, 2 relay hops), "
      f"p99 {r['rtt_p99_us']:.1f} vs {d['rtt_p99_us']:.1f} us")
PY
