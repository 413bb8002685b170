#!/usr/bin/env bash
# Builds the guest initramfs: spinbox-agent (NativeAOT) as /init, crun, busybox as /bin/sh, the shared
# libraries they load and the dynamic loader. Cached by the hash of its inputs; prints the path of
# initramfs.cpio.gz (a second run with unchanged inputs prints it at once).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${SPINBOX_CACHE:-/var/cache/spinbox}
CRUN=/usr/bin/crun
BUSYBOX=/bin/busybox

for tool in "$CRUN" "$BUSYBOX" cpio gzip dotnet; do
  command -v "$tool" >/dev/null || { echo "build-initramfs: $tool not found (apt-get install crun busybox-static cpio)" >&2; exit 1; }
done

inputs() {
  # Agent and protocol sources (not build outputs), the build settings, this script, package versions.
  (cd "$REPO" && find src/GuestAgent src/Ttrpc \( -name bin -o -name obj \) -prune -o -type f \
      \( -name '*.cs' -o -name '*.csproj' -o -name '*.proto' \) -print | LC_ALL=C sort | while read -r f; do
        echo "$f"; sha256sum < "$f"; done)
  sha256sum < "$REPO/Directory.Build.props"
  sha256sum < "$HERE/build-initramfs.sh"
  dpkg-query -W -f='${Package} ${Version}\n' crun busybox-static libc6 2>/dev/null || true
  dotnet --version
}
KEY=$(inputs | sha256sum | cut -c1-16)
OUT=$CACHE/initramfs/$KEY
if [ -f "$OUT/initramfs.cpio.gz" ]; then echo "$OUT/initramfs.cpio.gz"; exit 0; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/spinbox-initramfs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"

echo "build-initramfs: publishing spinbox-agent (NativeAOT)" >&2
dotnet publish "$REPO/src/GuestAgent/Spinbox.GuestAgent.csproj" -c Release -o "$WORK/publish" -nologo -v quiet >&2
AGENT=$WORK/publish/spinbox-agent
[ -x "$AGENT" ] || { echo "build-initramfs: publish produced no $AGENT" >&2; exit 1; }

mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc,root,var/log,lib64}
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"
install -m 0755 "$AGENT" "$ROOT/init"
install -m 0755 "$CRUN" "$ROOT/usr/bin/crun"
install -m 0755 "$BUSYBOX" "$ROOT/bin/busybox"
# Every applet as a link, so script supervisors and debugging shells find their tools.
for applet in $("$BUSYBOX" --list); do
  case "$applet" in init|linuxrc) continue ;; esac
  [ -e "$ROOT/bin/$applet" ] || ln -s busybox "$ROOT/bin/$applet"
done
ln -sf busybox "$ROOT/bin/sh"

# Shared libraries at the paths ldd resolves them to (symlinks followed), plus the loader.
copy_libs() {
  ldd "$1" | while read -r line; do
    case "$line" in
      *"=> not found"*) echo "build-initramfs: $1 needs a missing library: $line" >&2; exit 1 ;;
      *"=> /"*) lib=$(echo "$line" | sed -E 's/.*=> ([^ ]+).*/\1/') ;;
      /*) lib=$(echo "$line" | cut -d' ' -f1) ;;
      *) continue ;;
    esac
    mkdir -p "$ROOT$(dirname "$lib")"
    [ -e "$ROOT$lib" ] || cp -L "$lib" "$ROOT$lib"
  done
}
copy_libs "$CRUN"
copy_libs "$AGENT"

cat > "$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$ROOT/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
echo spinbox > "$ROOT/etc/hostname"
# The kernel opens /dev/console for init's stdio before any devtmpfs exists.
mknod -m 0600 "$ROOT/dev/console" c 5 1 2>/dev/null || echo "build-initramfs: cannot mknod /dev/console (not root?)" >&2
mknod -m 0666 "$ROOT/dev/null" c 1 3 2>/dev/null || true

mkdir -p "$WORK/out"
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) \
  | gzip -9 -n > "$WORK/out/initramfs.cpio.gz"
cp "$AGENT" "$WORK/out/spinbox-agent"
mkdir -p "$CACHE/initramfs"
# Copied next to its final name first, so a reader never sees a half-written cache entry.
rm -rf "$OUT.tmp.$$"; cp -r "$WORK/out" "$OUT.tmp.$$"
rm -rf "$OUT"; mv "$OUT.tmp.$$" "$OUT"
echo "build-initramfs: $(du -h "$OUT/initramfs.cpio.gz" | cut -f1) initramfs, agent $(du -h "$OUT/spinbox-agent" | cut -f1)" >&2
echo "$OUT/initramfs.cpio.gz"
