#!/usr/bin/env bash
# Installs what building and testing Spinbox needs on Debian 12: apt packages (QEMU 10 from
# bookworm-backports), then containerd 2.1 and 1.7 into the cache (scripts/containerd.sh).
# Idempotent and quick when everything is there: apt runs only for missing packages.
#
# Usage: scripts/deps.sh            (as root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive

# kernel build: linux-source-6.1 gcc make bc flex bison libelf-dev libssl-dev xz-utils
# guest image: busybox-static crun cpio e2fsprogs; test images: debootstrap file
# NativeAOT links with gcc and needs zlib; the baseline runtime is runc
PACKAGES=(runc busybox-static crun e2fsprogs debootstrap cpio file gcc make linux-libc-dev linux-source-6.1
  bc flex bison libelf-dev libssl-dev xz-utils zlib1g-dev ca-certificates)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

bash "$HERE/apt-sources.sh"
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
# QEMU 10 (vhost-user-vsock) comes only from bookworm-backports; bookworm's own 7.2 is not enough
qemu_ok=0
installed qemu-system-x86 && dpkg-query -W -f='${Version}' qemu-system-x86 | grep -q '~bpo12' && qemu_ok=1
if [ ${#missing[@]} -gt 0 ] || [ "$qemu_ok" = 0 ]; then
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
  if [ "$qemu_ok" = 0 ]; then
    echo "deps: installing qemu-system-x86 from bookworm-backports" >&2
    apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >&2
  fi
fi
bash "$HERE/containerd.sh" >/dev/null
echo "deps: ok (qemu $(dpkg-query -W -f='${Version}' qemu-system-x86), runc $(dpkg-query -W -f='${Version}' runc))" >&2
