#!/usr/bin/env bash
# Median wall time of `ctr run --rm RUNTIME busybox:test cX true` for runc and spinbox on the same
# private containerd, in one run, and their ratio. Spinbox is measured only when its shim is there
# (SPINBOX_SHIM_DIR holds containerd-shim-spinbox-v1, SPINBOX_CONFIG names its config).
#
# Usage: bench/ctr-run-bench.sh [2.1|1.7|both] [RUNS]     default: both, 5 runs (after one warm-up)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHICH=${1:-both}
RUNS=${2:-5}
IMG=docker.io/library/busybox:test

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

spinbox_missing() {
  if [ -z "${SPINBOX_SHIM_DIR:-}" ]; then echo "SPINBOX_SHIM_DIR is not set"
  elif [ ! -x "$SPINBOX_SHIM_DIR/containerd-shim-spinbox-v1" ]; then echo "no $SPINBOX_SHIM_DIR/containerd-shim-spinbox-v1"
  elif [ -z "${SPINBOX_CONFIG:-}" ] || [ ! -f "$SPINBOX_CONFIG" ]; then echo "SPINBOX_CONFIG is not set or missing"
  fi
}

# time_runs CTR DIR RUNTIME TAG: prints one wall time in seconds per run, after an untimed warm-up
time_runs() {
  local ctr=$1 dir=$2 rt=$3 tag=$4 i t0 t1
  for i in $(seq 0 "$RUNS"); do
    t0=$(date +%s%N)
    "$ctr" --address "$dir/containerd.sock" -n default run --rm --runtime "$rt" "$IMG" "bench-$tag-$i-$$" true </dev/null >/dev/null \
      || { echo "ctr run under $rt failed (log: $dir/containerd.log)" >&2; return 1; }
    t1=$(date +%s%N)
    [ "$i" -eq 0 ] || awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
  done
}

bench_series() {
  local series=$1 dir runc spin missing ctr
  ctr=$(bash "$ROOT/scripts/containerd.sh" --root "$series")/usr/bin/ctr
  dir=$(mktemp -d /tmp/spinbox-bench-XXXXXX)
  trap 'bash "$ROOT/scripts/private-containerd.sh" stop "$dir" --purge >/dev/null 2>&1 || true; rm -rf "$dir"' RETURN
  bash "$ROOT/scripts/private-containerd.sh" start "$series" "$dir" >/dev/null
  bash "$ROOT/scripts/images.sh" import "$dir" busybox >/dev/null 2>&1
  runc=$(time_runs "$ctr" "$dir" io.containerd.runc.v2 runc | median)
  echo "containerd $series  runc:    median ${runc} s of $RUNS"
  missing=$(spinbox_missing)
  if [ -n "$missing" ]; then
    echo "containerd $series  spinbox: skipped ($missing)"
    return 0
  fi
  spin=$(time_runs "$ctr" "$dir" io.containerd.spinbox.v1 spinbox | median)
  echo "containerd $series  spinbox: median ${spin} s of $RUNS"
  awk -v s="$spin" -v r="$runc" 'BEGIN { printf "containerd '"$series"'  ratio spinbox/runc: %.2f\n", s / r }'
}

case "$WHICH" in
  both) bench_series 2.1; bench_series 1.7 ;;
  2.1|1.7) bench_series "$WHICH" ;;
  *) echo "usage: $0 [2.1|1.7|both] [RUNS]" >&2; exit 2 ;;
esac
