#!/bin/sh
# plexd's own memory (VmRSS, RssAnon; wireguard-go excluded and shown as the reference) after
# converging on 1,000 and 5,000 peers served by tests/e2e/fakecp.py, and idle CPU over 30 s.
# Needs root, wireguard-go, wg, curl. Use a plain build: ASan inflates memory several times.
#   bench/run-memory.sh [build-dir] [agent-bench.py memory options]
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
san=$(meson introspect --buildoptions "$build" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
print(next((o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"), "none"))' ||
	echo unknown)
case $san in none | "" | "[]") ;; *)
	echo "warning: $build is built with b_sanitize=$san; memory numbers are not representative" >&2 ;;
esac
[ $# -gt 0 ] || set -- --peers 1000 5000 --idle 30
PLEXD_BUILD="$build" exec timeout 900 /usr/bin/python3 "$here/agent-bench.py" memory "$@"
