#!/usr/bin/env bash
# Installs what potter needs to build, test and benchmark, and does nothing (in a second or
# two) when everything is already there. Debian packages come from apt-get; the npm test
# peers go into tests/peers/node_modules, never globally.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

# Build and test dependencies, as Debian packages.
debs=(
  gcc g++ clang libclang-rt-14-dev make cmake pkg-config git ca-certificates
  libuv1-dev libcmocka-dev libjansson-dev
  node-llhttp            # llhttp's C sources (/usr/share/llhttp), compiled into libpotter
  libcurl4-openssl-dev   # the config part polls URLs with libcurl
  systemtap-sdt-dev      # sys/sdt.h: the USDT probes (request start/done, log record)
  libunwind-dev libdw-dev libelf-dev zlib1g-dev
                         # the prof part: stacks, symbols (file:line, inlined), gzip
  golang-go              # `go tool pprof` reads the profiles in the tests
  libgoogle-perftools-dev # gperftools: the peer the profiler benchmarks compare against
  libspdlog-dev          # the peer the log benchmarks compare against
  abigail-tools          # abidiff, the ABI check
  gdb                    # the crash tests read the core's backtrace with it (tests/crash)
  nodejs npm             # runs the npm test peers (bunyan, statsd)
  prometheus             # for promtool only, which checks the /metrics text; its server is
                         # kept off (keep_services_off below)
  curl python3           # the tests' HTTP client (tests/app, tests/integration) and the
                         # profile tests' SVG check (python3's XML parser); the benchmarks too
  valgrind               # callgrind: instructions counted by bench/prof_heap and
                         # bench/http_callgrind.sh
  wrk nginx              # benchmark peers (bench/http_throughput.sh): the load generator, and
                         # the server potter is measured against, started by the benchmark
                         # itself; the system nginx on port 80 is kept off
)

# Installing Debian's prometheus would start a Prometheus server (port 9090), and nginx one on
# port 80, each enabled at boot, where all we want is promtool and an nginx binary that the
# benchmark runs itself. While deps.sh installs one of these services, a policy-rc.d that
# refuses every service start (invoke-rc.d and deb-systemd-invoke ask it) stands in for the
# machine's own, which is put back after; then their units are disabled.
services=(prometheus nginx)
policy=/usr/sbin/policy-rc.d
deny_service_starts() {
  if [ -e "$policy" ]; then mv "$policy" "$policy.potter-saved"; fi
  printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs packages\nexit 101\n' \
    >"$policy"
  chmod 755 "$policy"
  trap allow_service_starts EXIT
}
allow_service_starts() {
  rm -f "$policy"
  if [ -e "$policy.potter-saved" ]; then mv "$policy.potter-saved" "$policy"; fi
  trap - EXIT
}
# keep_services_off NAME...: disables (and stops, if running) each service NAME.
keep_services_off() {
  local name
  for name in "$@"; do
    if command -v systemctl >/dev/null 2>&1; then
      systemctl disable "$name.service" >/dev/null 2>&1 || true
      if systemctl is-active --quiet "$name.service" 2>/dev/null; then
        systemctl stop "$name.service" || true
      fi
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
      update-rc.d "$name" disable >/dev/null 2>&1 || true
    fi
  done
}

missing=()
for p in "${debs[@]}"; do
  # A newer node from elsewhere counts as nodejs/npm.
  case $p in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: run as root (or install these packages yourself): ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  keep_off=()
  for svc in "${services[@]}"; do
    if printf '%s\n' "${missing[@]}" | grep -qx "$svc"; then keep_off+=("$svc"); fi
  done
  if [ ${#keep_off[@]} -gt 0 ]; then deny_service_starts; fi
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ ${#keep_off[@]} -gt 0 ]; then
    allow_service_starts
    keep_services_off "${keep_off[@]}"
  fi
fi

# npm test peers, pinned by tests/peers/package-lock.json.
peers=$top/tests/peers
if [ ! -x "$peers/node_modules/.bin/bunyan" ] || [ ! -f "$peers/node_modules/statsd/stats.js" ] ||
  [ "$peers/package-lock.json" -nt "$peers/node_modules/.package-lock.json" ]; then
  echo "deps: installing npm test peers into tests/peers"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
