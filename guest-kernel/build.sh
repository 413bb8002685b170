#!/usr/bin/env bash
# Builds the guest kernel from Debian's linux-source-6.1 and caches it by its inputs.
# Prints the cache folder holding vmlinux, bzImage, .config and release.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SPINBOX_CACHE:-/var/cache/spinbox}
TARBALL=$(ls /usr/src/linux-source-6.1.tar.xz)
SRCVER=$(dpkg-query -W -f='${Version}' linux-source-6.1)
KEY=$( (echo "$SRCVER"; cat "$HERE/config.fragment" "$HERE/build.sh"; gcc --version | head -1) | sha256sum | cut -c1-16)
OUT=$CACHE/kernel/$KEY
if [ -f "$OUT/vmlinux" ] && [ -f "$OUT/bzImage" ]; then echo "$OUT"; exit 0; fi
WORK=$CACHE/kernel/build-$KEY
rm -rf "$WORK"; mkdir -p "$WORK"
tar -C "$WORK" -xf "$TARBALL"
SRC=$(echo "$WORK"/linux-source-6.1)
cd "$SRC"
make -s ARCH=x86_64 tinyconfig >&2
./scripts/kconfig/merge_config.sh -m .config "$HERE/config.fragment" >&2
make -s ARCH=x86_64 olddefconfig >&2
# Every fragment line must have survived olddefconfig: a dropped one is a silent feature loss.
missing=0
while IFS= read -r line; do
  case "$line" in CONFIG_*=y) grep -qx "$line" .config || { echo "kernel config lost: $line" >&2; missing=1; } ;; esac
done < "$HERE/config.fragment"
[ "$missing" = 0 ] || exit 1
make -s ARCH=x86_64 -j"$(nproc)" bzImage >&2
mkdir -p "$OUT.tmp"
cp vmlinux "$OUT.tmp/vmlinux"; cp arch/x86/boot/bzImage "$OUT.tmp/bzImage"; cp .config "$OUT.tmp/config"
make -s ARCH=x86_64 kernelrelease > "$OUT.tmp/release"
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
rm -rf "$WORK"
echo "$OUT"
