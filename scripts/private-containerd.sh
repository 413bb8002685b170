#!/usr/bin/env bash
# Runs a private containerd (2.1 or 1.7, from scripts/containerd.sh) with its own root, state, socket,
# config and log under one folder, so it never touches a system containerd.
#
# Usage:
#   scripts/private-containerd.sh start SERIES DIR   start containerd SERIES (2.1|1.7) in DIR, wait until it answers
#   scripts/private-containerd.sh ctr DIR ARGS...    run that instance's own ctr against DIR/containerd.sock
#   scripts/private-containerd.sh stop DIR [--purge] kill its tasks, stop it, kill leftover shims, unmount;
#                                                    --purge then deletes DIR except containerd.log
# Environment:
#   SPINBOX_SHIM_DIR   folder prepended to containerd's PATH (holds containerd-shim-spinbox-v1)
#   SPINBOX_CONFIG     passed through to containerd and so to every shim it starts
#   CONTAINERD_LOG_LEVEL  default info
# Layout of DIR: config.toml root/ state/ containerd.sock containerd.log containerd.pid series
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "private-containerd.sh: $*" >&2; exit 1; }

tree_of() { bash "$HERE/containerd.sh" --root "$1"; }

write_config() {
  local series=$1 dir=$2 level=${CONTAINERD_LOG_LEVEL:-info}
  # CRI needs CNI and more; NRI and the opt plugin use fixed global paths that two instances would share.
  if [ "$series" = 2.1 ]; then
    cat > "$dir/config.toml" <<EOF
version = 3
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images",
  "io.containerd.podsandbox.controller.v1.podsandbox",
  "io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = "$dir/debug.sock"
  level = "$level"
[metrics]
  address = ""
EOF
  else
    cat > "$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = "$dir/debug.sock"
  level = "$level"
[metrics]
  address = ""
EOF
  fi
}

ctr_of() {
  local dir=$1; shift
  [ -f "$dir/series" ] || die "$dir holds no private containerd (no series file)"
  "$(tree_of "$(cat "$dir/series")")/usr/bin/ctr" --address "$dir/containerd.sock" "$@"
}

alive() { [ -f "$1/containerd.pid" ] && kill -0 "$(cat "$1/containerd.pid")" 2>/dev/null; }

# Shims of this instance carry its socket address on their command line; nothing else does.
shim_pids() { pgrep -f -- "-address $1/containerd.sock" || true; }

# A container's processes outlive a killed runc shim: kill each bundle's init and make runc forget it.
# runc's state root is shared by every containerd on the host, so only a state whose bundle is ours.
kill_orphaned_containers() {
  local dir=$1 b ns id pid
  for b in "$dir"/state/io.containerd.runtime.v2.task/*/*; do
    [ -d "$b" ] || continue
    ns=$(basename "$(dirname "$b")"); id=$(basename "$b")
    if [ -f "$b/init.pid" ] && pid=$(cat "$b/init.pid") && kill -0 "$pid" 2>/dev/null; then
      echo "killing leftover container $ns/$id (pid $pid) of $dir" >&2; kill -KILL "$pid" 2>/dev/null || true
    fi
    if command -v runc >/dev/null && runc --root "/run/containerd/runc/$ns" state "$id" 2>/dev/null | grep -q "\"bundle\": \"$b\""; then
      runc --root "/run/containerd/runc/$ns" delete -f "$id" >/dev/null 2>&1 || true
    fi
  done
}

unmount_under() {
  local dir=$1 m
  # deepest first; mountinfo field 5 is the mount point
  for m in $(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}

start() {
  local series=$1 dir=$2 tree path i
  case "$series" in 2.1|1.7) ;; *) die "series must be 2.1 or 1.7, not '$series'" ;; esac
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  # a unix socket path is limited to 107 bytes; leave room for containerd's own suffixes
  [ ${#dir} -le 80 ] || die "DIR '$dir' is too long for a unix socket path (max 80 characters)"
  alive "$dir" && die "a containerd already runs in $dir (pid $(cat "$dir/containerd.pid"))"
  tree=$(tree_of "$series")
  mkdir -p "$dir/root" "$dir/state"
  echo "$series" > "$dir/series"
  write_config "$series" "$dir"
  path="$tree/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  if [ -n "${SPINBOX_SHIM_DIR:-}" ]; then path="$SPINBOX_SHIM_DIR:$path"; fi
  # setsid: containerd must outlive this script and not get the caller's terminal signals
  PATH=$path setsid "$tree/usr/bin/containerd" --config "$dir/config.toml" \
    </dev/null >>"$dir/containerd.log" 2>&1 &
  echo $! > "$dir/containerd.pid"
  for i in $(seq 1 100); do
    if [ -S "$dir/containerd.sock" ] && ctr_of "$dir" version >/dev/null 2>&1; then echo "$dir"; return 0; fi
    alive "$dir" || { tail -20 "$dir/containerd.log" >&2; die "containerd $series exited at start (log: $dir/containerd.log)"; }
    sleep 0.1
  done
  tail -20 "$dir/containerd.log" >&2
  die "containerd $series did not answer within 10 s (log: $dir/containerd.log)"
}

stop() {
  local dir=$1 purge=${2:-} ns id pid i
  [ -d "$dir" ] || die "no such folder $dir"; dir=$(cd "$dir" && pwd)
  if alive "$dir"; then
    for ns in $(ctr_of "$dir" namespaces list -q 2>/dev/null); do
      for id in $(ctr_of "$dir" -n "$ns" tasks list -q 2>/dev/null); do
        ctr_of "$dir" -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
        timeout 10 ctr_of "$dir" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
      done
      for id in $(ctr_of "$dir" -n "$ns" containers list -q 2>/dev/null); do
        ctr_of "$dir" -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
      done
    done
    pid=$(cat "$dir/containerd.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "containerd $pid ignored SIGTERM; killing it" >&2; kill -KILL "$pid" || true; }
  fi
  for pid in $(shim_pids "$dir"); do
    echo "killing leftover shim $pid of $dir" >&2; kill -KILL "$pid" 2>/dev/null || true
  done
  kill_orphaned_containers "$dir"
  unmount_under "$dir"
  rm -f "$dir/containerd.pid"
  if [ "$purge" = --purge ]; then
    find "$dir" -mindepth 1 -maxdepth 1 ! -name containerd.log -exec rm -rf {} +
  fi
}

cmd=${1:-}; shift || true
case "$cmd" in
  start) [ $# -eq 2 ] || die "usage: start SERIES DIR"; start "$1" "$2" ;;
  stop)  [ $# -ge 1 ] || die "usage: stop DIR [--purge]"; stop "$1" "${2:-}" ;;
  ctr)   [ $# -ge 1 ] || die "usage: ctr DIR ARGS..."; d=$1; shift; ctr_of "$d" "$@" ;;
  *) die "usage: start SERIES DIR | ctr DIR ARGS... | stop DIR [--purge]" ;;
esac
