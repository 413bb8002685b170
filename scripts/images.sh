#!/usr/bin/env bash
# Builds the two test images as OCI archives, by hand and deterministically (fixed mtimes, sorted
# entries, gzip -n), cached under ${SPINBOX_CACHE:-/var/cache/spinbox}/images/ by their inputs:
#   docker.io/library/busybox:test  Debian's busybox-static with a symlink per applet in /bin
#   docker.io/library/debian:test   debootstrap --variant=minbase bookworm (slow once, then cached)
#
# Usage:
#   scripts/images.sh build [busybox|debian]...   build (or reuse) the archives; prints "NAME ARCHIVE" lines
#   scripts/images.sh import DIR [busybox|debian]... import them into the private containerd in DIR
#                                                  (scripts/private-containerd.sh) and unpack for overlayfs
# Default image set: busybox debian. DEBIAN_MIRROR overrides http://deb.debian.org/debian.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SPINBOX_CACHE:-/var/cache/spinbox}
IMAGES=$CACHE/images
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

die() { echo "images.sh: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# Deterministic tar of a folder's contents: sorted, mtime 0, numeric ids, no atime/ctime/xattrs.
det_tar() { tar -C "$1" --sort=name --mtime=@0 --numeric-owner --format=gnu -cf "$2" .; }

# make_oci LAYER_TAR IMAGE_NAME CMD_JSON OUT_ARCHIVE: wraps one uncompressed layer into an OCI image
# layout (oci-layout, index.json, blobs) and tars that up.
make_oci() {
  local layer=$1 name=$2 cmd=$3 out=$4 work diff gz cfg man idx
  work=$(mktemp -d); chmod 755 "$work"; mkdir -p "$work/blobs/sha256"
  diff=$(sha "$layer")
  gzip -n -6 -c "$layer" > "$work/layer.tar.gz"
  gz=$(sha "$work/layer.tar.gz"); mv "$work/layer.tar.gz" "$work/blobs/sha256/$gz"
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["%s"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/images.sh"}]}' \
    "$PATH_ENV" "$cmd" "$diff" > "$work/config.json"
  cfg=$(sha "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
    "$cfg" "$(size "$work/config.json")" "$gz" "$(size "$work/blobs/sha256/$gz")" > "$work/manifest.json"
  man=$(sha "$work/manifest.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$man" "$(size "$work/manifest.json")" "$name" "${name##*:}" > "$work/index.json"
  mv "$work/config.json" "$work/blobs/sha256/$cfg"; mv "$work/manifest.json" "$work/blobs/sha256/$man"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
  det_tar "$work" "$out.tmp"; mv "$out.tmp" "$out"
  rm -rf "$work"
}

build_busybox() {
  local bb=/bin/busybox key out root a
  [ -x "$bb" ] && "$bb" --list >/dev/null 2>&1 || die "$bb missing: apt-get install busybox-static"
  file -b "$bb" 2>/dev/null | grep -q 'statically linked' || ldd "$bb" 2>&1 | grep -q 'not a dynamic' \
    || die "$bb is not statically linked: apt-get install busybox-static"
  key=$( (sha "$bb"; declare -f build_busybox make_oci det_tar) | sha256sum | cut -c1-16)
  out=$IMAGES/busybox-$key.oci.tar
  if [ ! -f "$out" ]; then
    root=$(mktemp -d); chmod 755 "$root"
    mkdir -p "$root"/{bin,dev,etc,proc,sys,root,var,run} "$root/tmp"; chmod 1777 "$root/tmp"; chmod 700 "$root/root"
    cp "$bb" "$root/bin/busybox"; chmod 755 "$root/bin/busybox"
    for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
    chown -R 0:0 "$root"
    det_tar "$root" "$root.layer.tar"
    make_oci "$root.layer.tar" docker.io/library/busybox:test '["sh"]' "$out"
    rm -rf "$root" "$root.layer.tar"
  fi
  echo "busybox $out"
}

# The debootstrap tree is the slow part: cached on its own, keyed by what decides its content.
debian_rootfs_tar() {
  local key out root
  key=$( (echo "bookworm minbase $MIRROR"; dpkg-query -W -f='${Version}' debootstrap; declare -f debian_rootfs_tar) \
    | sha256sum | cut -c1-16)
  out=$IMAGES/debian-bookworm-minbase-$key.rootfs.tar
  if [ ! -f "$out" ]; then
    command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
    root=$IMAGES/debootstrap-$key.tmp
    rm -rf "$root"; mkdir -p "$root"
    echo "images.sh: debootstrap --variant=minbase bookworm from $MIRROR (a few minutes, once)" >&2
    debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$root.log" 2>&1 \
      || { tail -20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
    # runtimes provide /dev, /proc, /sys; package caches only bloat the layer
    rm -rf "$root"/dev/* "$root"/proc/* "$root"/sys/* "$root"/var/cache/apt/*.bin \
      "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* "$root"/run/*
    det_tar "$root" "$out.tmp"; mv "$out.tmp" "$out"
    rm -rf "$root" "$root.log"
  fi
  echo "$out"
}

build_debian() {
  local rootfs key out
  rootfs=$(debian_rootfs_tar)
  key=$( (sha "$rootfs"; declare -f make_oci det_tar) | sha256sum | cut -c1-16)
  out=$IMAGES/debian-$key.oci.tar
  [ -f "$out" ] || make_oci "$rootfs" docker.io/library/debian:test '["bash"]' "$out"
  echo "debian $out"
}

build() {
  local n
  mkdir -p "$IMAGES"
  for n in "$@"; do
    case "$n" in busybox) build_busybox ;; debian) build_debian ;; *) die "unknown image '$n' (busybox|debian)" ;; esac
  done
}

# ctr differs by version: 2.x imports through the transfer service by default, 1.7 through the client;
# both unpack into the default snapshotter (overlayfs) unless told --no-unpack.
import() {
  local dir=$1; shift
  local line name archive
  build "$@" | while read -r name archive; do
    bash "$HERE/private-containerd.sh" ctr "$dir" -n default images import --platform linux/amd64 "$archive" >&2 \
      || die "import of $archive into $dir failed"
    bash "$HERE/private-containerd.sh" ctr "$dir" -n default images ls -q | grep -qx "docker.io/library/$name:test" \
      || die "after import, $dir has no image docker.io/library/$name:test"
    echo "docker.io/library/$name:test"
  done
}

cmd=${1:-}; shift || true
case "$cmd" in
  build)  if [ $# -eq 0 ]; then set -- busybox debian; fi; build "$@" ;;
  import) [ $# -ge 1 ] || die "usage: import DIR [busybox|debian]..."
          d=$1; shift; if [ $# -eq 0 ]; then set -- busybox debian; fi; import "$d" "$@" ;;
  *) die "usage: build [busybox|debian]... | import DIR [busybox|debian]..." ;;
esac
