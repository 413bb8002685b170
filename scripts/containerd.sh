#!/usr/bin/env bash
# Fetches containerd 2.1 (Debian sid) and containerd 1.7 (Debian trixie) and unpacks each with dpkg -x
# into ${SPINBOX_CACHE:-/var/cache/spinbox}/containerd/<debian version>/ (never installed system-wide),
# with a stable link containerd/2.1 and containerd/1.7 to it. Also installs runc (bookworm) as the
# baseline runtime. Cached: once both trees and runc exist it does nothing.
#
# Usage: scripts/containerd.sh          prints the two roots, one a line: "2.1 <root>" and "1.7 <root>"
#        scripts/containerd.sh --root 1.7   prints only that root
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SPINBOX_CACHE:-/var/cache/spinbox}
DIR=$CACHE/containerd
# series -> Debian suite it comes from
declare -A SUITE=([2.1]=sid [1.7]=trixie)

tree_ok() { [ -x "$1/usr/bin/containerd" ] && [ -x "$1/usr/bin/ctr" ] && [ -x "$1/usr/bin/containerd-shim-runc-v2" ]; }

fetch_series() {
  local series=$1 suite=${SUITE[$1]} tmp deb version
  tmp=$(mktemp -d)
  # root downloads into a root-owned temp dir: tell apt not to drop to _apt (it could not write there)
  (cd "$tmp" && "$HERE/apt-private.sh" -o APT::Sandbox::User=root download -q "containerd/$suite" >&2)
  deb=$(ls "$tmp"/containerd_*.deb)
  version=$(dpkg-deb -f "$deb" Version)
  case "$version" in
    "$series".*) ;;
    *) echo "containerd.sh: Debian $suite now ships containerd $version, expected $series.x" >&2; exit 1 ;;
  esac
  if ! tree_ok "$DIR/$version"; then
    rm -rf "$DIR/$version.tmp"
    dpkg -x "$deb" "$DIR/$version.tmp"
    tree_ok "$DIR/$version.tmp" || { echo "containerd.sh: $deb lacks containerd, ctr or containerd-shim-runc-v2" >&2; exit 1; }
    rm -rf "$DIR/$version"; mv "$DIR/$version.tmp" "$DIR/$version"
  fi
  ln -sfn "$version" "$DIR/$series"
  rm -rf "$tmp"
}

all_cached=1
for s in 2.1 1.7; do tree_ok "$DIR/$s" || all_cached=0; done
command -v runc >/dev/null || all_cached=0

if [ "$all_cached" = 0 ]; then
  mkdir -p "$DIR"
  bash "$HERE/apt-sources.sh" >&2
  "$HERE/apt-private.sh" update -qq >&2
  for s in 2.1 1.7; do tree_ok "$DIR/$s" || fetch_series "$s"; done
  command -v runc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends runc >&2
fi

if [ "${1:-}" = --root ]; then
  [ -n "${SUITE[${2:-}]+x}" ] || { echo "containerd.sh: --root needs 2.1 or 1.7" >&2; exit 2; }
  readlink -f "$DIR/$2"; exit 0
fi
for s in 2.1 1.7; do echo "$s $(readlink -f "$DIR/$s")"; done
