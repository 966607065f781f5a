#!/usr/bin/env bash
# Compares the ABI of a built libpotter.so with the committed baseline abi/libpotter.abi
# (libabigail's abidw and abidiff; Debian package abigail-tools).
#
#   scripts/abi-check.sh BUILD_DIR            # compare; exit 1 on an incompatible change
#   scripts/abi-check.sh --update BUILD_DIR   # rewrite the baseline from BUILD_DIR
#
# Only what the public headers (include/) declare counts, so internal types can change
# freely. The build must carry debug info (the default RelWithDebInfo does). docs/building.md
# says when to update the baseline.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
baseline=$top/abi/libpotter.abi

usage() {
  echo "usage: $0 [--update] BUILD_DIR" >&2
  exit 2
}

update=0
if [ "${1:-}" = "--update" ]; then
  update=1
  shift
fi
[ $# -eq 1 ] || usage
build=$1

lib=$build/libpotter.so
[ -e "$lib" ] || { echo "abi: no $lib (build first: make build)" >&2; exit 2; }
lib=$(readlink -f "$lib")

for tool in abidw abidiff; do
  command -v $tool >/dev/null 2>&1 ||
    { echo "abi: $tool not found (Debian: apt-get install abigail-tools)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/potter-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Locations, paths and the build's compilation directory are left out, so the baseline
# changes only when the ABI does, not on every edit or from every checkout.
abidw --headers-dir "$top/include" --drop-private-types --exported-interfaces-only \
  --no-corpus-path --no-show-locs --no-comp-dir-path --out-file "$tmp/libpotter.abi" "$lib"

if [ $update -eq 1 ]; then
  mkdir -p "$(dirname "$baseline")"
  cp "$tmp/libpotter.abi" "$baseline"
  echo "abi: baseline updated: ${baseline#$top/} (from $lib)"
  exit 0
fi

if [ ! -f "$baseline" ]; then
  echo "abi: no baseline ${baseline#$top/} yet; create it with: $0 --update $build" >&2
  exit 2
fi

# abidiff's status is a bit mask: 1 error, 2 usage, 4 ABI changed, 8 incompatible change.
set +e
abidiff --no-show-locs "$baseline" "$tmp/libpotter.abi" >"$tmp/report"
rc=$?
set -e

if [ $((rc & 3)) -ne 0 ]; then
  cat "$tmp/report" >&2
  echo "abi: abidiff failed (status $rc)" >&2
  exit 2
fi
if [ $((rc & 8)) -ne 0 ]; then
  cat "$tmp/report"
  echo "abi: INCOMPATIBLE change against ${baseline#$top/} (see above)." >&2
  echo "abi: if it is intended, bump the version as docs/building.md says, then: $0 --update $build" >&2
  exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
  cat "$tmp/report"
  echo "abi: compatible changes only (additions); refresh the baseline with: $0 --update $build"
  exit 0
fi
echo "abi: libpotter.so matches ${baseline#$top/}"
