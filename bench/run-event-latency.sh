#!/bin/sh
# One signed peer_added event (tests/e2e/fakecp.py emits it on the SSE stream) until the device
# has it, with 1,000 peers already configured: plexd's own debug log gives the time from the
# event being dispatched ("event" line) to "mesh applied", both at millisecond precision.
# The reference is `wg set` adding one peer to the same device. Needs root, wireguard-go, wg.
#   bench/run-event-latency.sh [build-dir] [agent-bench.py latency options]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${PLEXD_BUILD:-build-bench}}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build="$PWD/$build" ;; esac
[ -x "$build/src/plexd/plexd" ] || { echo "build $build/src/plexd/plexd first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 77; }
for t in wireguard-go wg ip curl; do
	command -v "$t" >/dev/null || { echo "$t not found" >&2; exit 77; }
done
[ $# -gt 0 ] || set -- --peers 1000 --events 100
PLEXD_BUILD="$build" exec timeout 900 /usr/bin/python3 "$here/agent-bench.py" latency "$@"
