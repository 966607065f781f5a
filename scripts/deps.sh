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
  libcurl4-openssl-dev   # the config part polls URLs with libcurl
  libspdlog-dev          # the peer the log benchmarks compare against
  abigail-tools          # abidiff, the ABI check
  nodejs npm             # runs the npm test peers (bunyan)
)

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
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm test peers, pinned by tests/peers/package-lock.json.
peers=$top/tests/peers
if [ ! -x "$peers/node_modules/.bin/bunyan" ]; then
  echo "deps: installing npm test peers into tests/peers"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
