#!/bin/sh
# Mesh apply benchmark: mesh_apply vs `wg setconf` / `wg syncconf` on wireguard-go, inside a
# throwaway network namespace (needs root, wireguard-go, wg, ip).
#   meson setup build-bench --buildtype=release -Db_sanitize=none -Dbench=true
#   ninja -C build-bench bench/mesh-apply && bench/run-mesh.sh [build-dir] [mesh-apply args]
set -eu
build=${1:-${PLEXD_BUILD:-build-bench}}
[ $# -gt 0 ] && shift
bin="$build/bench/mesh-apply"
[ -x "$bin" ] || { echo "build $bin first (meson setup $build -Dbench=true)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace, wireguard-go)" >&2; exit 77; }
for t in wireguard-go wg ip; do
	command -v "$t" >/dev/null || { echo "$t not found" >&2; exit 77; }
done
ns="plexdbench-mesh-$$"
log=$(mktemp /tmp/plexd-bench-mesh-log.XXXXXX)
cleanup() {
	# Only processes inside our own namespace (the wireguard-go daemons the benchmark started).
	for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
# The daemon logs every added peer at info level, as in production; keep that off the table.
if ! ip netns exec "$ns" timeout 600 "$bin" "$@" 2>"$log"; then
	echo "mesh-apply failed; last log lines:" >&2
	tail -20 "$log" >&2
	rm -f "$log"
	exit 1
fi
rm -f "$log"
