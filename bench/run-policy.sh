#!/bin/sh
# Policy apply benchmark in a throwaway network namespace (needs root).
#   meson setup build-bench -Dbench=true && ninja -C build-bench bench/policy-apply
#   bench/run-policy.sh [build-bench]
set -eu
build=${1:-build-bench}
bin="$build/bench/policy-apply"
[ -x "$bin" ] || { echo "build $bin first (meson setup $build -Dbench=true)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace, nftables)" >&2; exit 77; }
ns="plexdbench-pol-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT INT TERM
ip netns exec "$ns" timeout 120 "$bin"
