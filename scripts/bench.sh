#!/usr/bin/env bash
# Runs every benchmark binary of BUILD_DIR/bench (built by `make build`), then every script
# bench/*.sh (given BUILD_DIR), one after the other, and prints their output: informational
# lines start with '#', figures with 'bench ' (see DESIGN.md, "Tests and benchmarks"). Exits
# nonzero if any benchmark failed, after running the others.
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
# run NAME COMMAND...: runs one benchmark between its "# --- NAME" and "took" lines.
run() {
  local name=$1 start rc
  shift
  found=1
  echo "# --- $name"
  start=$(date +%s)
  "$@"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "# $name FAILED (exit status $rc)" >&2
    status=1
  fi
  echo "# $name took $(($(date +%s) - start)) s"
}

for exe in "$dir"/*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  run "$(basename "$exe")" "$exe"
done
# Benchmarks that start servers and load generators (bench/http_throughput.sh) are scripts.
for script in "$(dirname "$0")"/../bench/*.sh; do
  [ -f "$script" ] || continue
  run "$(basename "$script")" bash "$script" "$build"
done

if [ "$found" = 0 ]; then
  echo "bench.sh: no benchmark binaries in $dir" >&2
  exit 1
fi
exit $status
