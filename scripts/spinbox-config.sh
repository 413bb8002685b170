#!/usr/bin/env bash
# Writes a spinbox shim config (JSON, the fields of src/Shim/Config/SpinboxConfig.cs) that points at a
# kernel folder (vmlinux, bzImage) and an initramfs; everything else keeps the shim's defaults.
#
# Usage: scripts/spinbox-config.sh KERNEL_DIR INITRAMFS > config.json
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 KERNEL_DIR INITRAMFS" >&2; exit 2; }
KERNEL_DIR=$1 INITRD=$2
for f in "$KERNEL_DIR/vmlinux" "$KERNEL_DIR/bzImage" "$INITRD"; do
  [ -f "$f" ] || { echo "spinbox-config.sh: $f does not exist" >&2; exit 1; }
done
json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
cat <<EOF
{
  "kernel": $(json_string "$KERNEL_DIR/vmlinux"),
  "kernel_bzimage": $(json_string "$KERNEL_DIR/bzImage"),
  "initrd": $(json_string "$INITRD"),
  "backend": "auto"
}
EOF
