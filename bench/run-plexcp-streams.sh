#!/bin/sh
# Builds plexcp without sanitizers (release) in build-cpbench and runs the event-stream fan-out
# benchmark (bench/plexcp-streams.py). Usage: bench/run-plexcp-streams.sh [--streams N] [--keep]
# Environment: PLEXCP_BIN (use that binary), else PLEXD_BUILD (a build directory holding
# src/plexcp/plexcp, e.g. from `make bench`), else BENCH_BUILD (default build-cpbench) is set up
# as a release build and plexcp built there.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD:-build-cpbench}
if [ -z "${PLEXCP_BIN:-}" ] && [ -n "${PLEXD_BUILD:-}" ] && [ -x "$PLEXD_BUILD/src/plexcp/plexcp" ]; then
	PLEXCP_BIN="$PLEXD_BUILD/src/plexcp/plexcp"
fi
if [ -z "${PLEXCP_BIN:-}" ]; then
	[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" -Dbuildtype=release -Db_sanitize=none >/dev/null
	ninja -C "$BUILD" -j2 src/plexcp/plexcp >/dev/null
	PLEXCP_BIN="$BUILD/src/plexcp/plexcp"
fi
# The client holds one socket per stream; plexcp raises its own soft limit and also inherits ours.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 bench/plexcp-streams.py --plexcp "$PLEXCP_BIN" "$@"
