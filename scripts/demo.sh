#!/usr/bin/env bash
# Runs the ctr commands of the user guide (containerd-integration.md) on a private containerd and
# prints each command with its output and exit code. The guide's alpine image is replaced by the
# local docker.io/library/busybox:test (no registry here). Continues past a failing command and
# exits non-zero if any failed.
#
# Usage: scripts/demo.sh    (as root)
# Environment: DEMO_CONTAINERD=2.1|1.7 (default 2.1), DEMO_RUNTIME (default io.containerd.spinbox.v1),
#              SPINBOX_SHIM_DIR / SPINBOX_CONFIG as for scripts/private-containerd.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SERIES=${DEMO_CONTAINERD:-2.1}
RT=${DEMO_RUNTIME:-io.containerd.spinbox.v1}
IMG=docker.io/library/busybox:test
DIR=$(mktemp -d /tmp/spinbox-demo-XXXXXX)
trap 'bash "$HERE/private-containerd.sh" stop "$DIR" --purge >/dev/null 2>&1; rm -rf "$DIR"' EXIT

bash "$HERE/private-containerd.sh" start "$SERIES" "$DIR" >/dev/null || exit 1
bash "$HERE/images.sh" import "$DIR" busybox >/dev/null 2>&1 || { echo "demo: image import failed" >&2; exit 1; }
CTR="$(bash "$HERE/containerd.sh" --root "$SERIES")/usr/bin/ctr"
failures=0

# show EXPECTED_EXIT ARGS...: prints `ctr run ARGS` as one would type it, runs it, prints its exit code
show() {
  local a
  printf '\n$ ctr run'
  for a in "${@:2}"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@,-]+$ ]]; then printf ' %s' "$a"; else printf " '%s'" "$a"; fi
  done
  printf '\n'
  "$CTR" --address "$DIR/containerd.sock" -n default run "${@:2}" </dev/null 2>&1
  local rc=$?
  echo "[exit $rc]"
  [ "$rc" = "$1" ] || failures=$((failures + 1))
}

echo "containerd $SERIES ($DIR), runtime $RT, image $IMG"

# Basic container in a VM
show 0 --rm --runtime "$RT" "$IMG" my-container /bin/sh -c "echo hello from VM"

# With custom files injected into the VM
APP=$DIR/myapp
printf '#!/bin/sh\necho "hello from myapp, injected at $0"\n' > "$APP"; chmod 755 "$APP"
show 0 --rm --runtime "$RT" \
  --label "io.spin.extras.files={\"/usr/local/bin/myapp\":{\"source\":\"$APP\",\"mode\":493}}" \
  "$IMG" my-container /usr/local/bin/myapp

# Supervisor: a stand-in supervisor that only says it started; its log is kept on the host
SUP=$DIR/spin-supervisor
printf '#!/bin/sh\necho "spin-supervisor started"\nsleep 1\n' > "$SUP"; chmod 755 "$SUP"
show 0 --rm --runtime "$RT" \
  --label "io.spin.extras.files={\"/run/spin-stack/spin-supervisor\":{\"source\":\"$SUP\",\"mode\":493}}" \
  --label io.spin.supervisor.enabled=true \
  --label io.spin.supervisor.workspace_id=550e8400-e29b-41d4-a716-446655440000 \
  --label io.spin.supervisor.secret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
  --label io.spin.supervisor.control_plane=https://control.example.com:443 \
  "$IMG" my-container /bin/sh -c "echo container with supervisor; sleep 2"
LOG_DIR=/var/log/spinbox
if [ -n "${SPINBOX_CONFIG:-}" ] && grep -q '"log_dir"' "$SPINBOX_CONFIG"; then
  LOG_DIR=$(sed -n 's/.*"log_dir" *: *"\([^"]*\)".*/\1/p' "$SPINBOX_CONFIG")
fi
if [ -f "$LOG_DIR/default/my-container/supervisor.log" ]; then
  echo "--- host copy of the supervisor log: $LOG_DIR/default/my-container/supervisor.log"
  cat "$LOG_DIR/default/my-container/supervisor.log"
fi

echo
if [ "$failures" -gt 0 ]; then echo "demo: $failures command(s) did not exit as expected"; exit 1; fi
echo "demo: all commands exited as expected"
