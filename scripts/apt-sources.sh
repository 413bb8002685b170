#!/usr/bin/env bash
# Adds bookworm-backports to the system's apt sources (we install QEMU 10 from it) and prepares a
# private apt root for trixie and sid, from which single packages are only downloaded, never installed.
set -euo pipefail
CACHE=${SPINBOX_CACHE:-/var/cache/spinbox}
if [ ! -f /etc/apt/sources.list.d/spinbox-backports.sources ]; then
  cat > /etc/apt/sources.list.d/spinbox-backports.sources <<'S'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
S
  apt-get update -qq
fi
PRIV=$CACHE/apt-private
if [ ! -f "$PRIV/sources.list" ]; then
  mkdir -p "$PRIV/state/lists/partial" "$PRIV/cache/archives/partial" "$PRIV/etc/preferences.d" "$PRIV/etc/apt.conf.d"
  cat > "$PRIV/sources.list" <<'S'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
S
  touch "$PRIV/status"
fi
