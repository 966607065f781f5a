#!/usr/bin/env bash
# Runs every benchmark binary of BUILD_DIR/bench (built by `make build`), one after the other,
# and prints their output: informational lines start with '#', figures with 'bench ' (see
# DESIGN.md, "Tests and benchmarks"). Exits nonzero if any benchmark failed, after running
# the others.
#
#     scripts/bench.sh build
#     scripts/bench.sh build | grep '^bench '
set -uo pipefail

build=${1:?usage: scripts/bench.sh BUILD_DIR}
dir=$build/bench
if [ ! -d "$dir" ]; then
  echo "bench.sh: no $dir: configure with -DPT_BUILD_BENCH=ON (and libspdlog-dev installed)" >&2
  exit 1
fi

echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "# commit: $(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"

status=0
found=0
for exe in "$dir"/*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  found=1
  name=$(basename "$exe")
  echo "# --- $name"
  start=$(date +%s)
  "$exe"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "# $name FAILED (exit status $rc)" >&2
    status=1
  fi
  echo "# $name took $(($(date +%s) - start)) s"
done

if [ "$found" = 0 ]; then
  echo "bench.sh: no benchmark binaries in $dir" >&2
  exit 1
fi
exit $status
