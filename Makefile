# Spinbox build, test and install. Run as root on Debian 12 (bookworm).
#   make deps       apt packages, QEMU 10 (bookworm-backports), containerd 2.1 + 1.7 into the cache
#   make kernel     guest kernel (guest-kernel/build.sh, cached)
#   make initramfs  guest initramfs with the agent (guest-kernel/build-initramfs.sh, cached)
#   make shim       containerd-shim-spinbox-v1 (NativeAOT) into out/bin
#   make config     out/config.json: a shim config pointing at the built kernel and initramfs
#   make images     the test images busybox:test and debian:test as OCI archives (cached)
#   make test       all of the above, then every test suite; ends with "N passed, N failed, N skipped"
#   make demo       the README's ctr commands on a private containerd (DEMO_CONTAINERD=2.1|1.7)
#   make bench      median `ctr run --rm ... true` time, runc vs spinbox
#   make install / uninstall   shim to /usr/local/bin, kernel + initramfs to /usr/local/share/spinbox,
#                              config to /etc/spinbox/config.json (kept if it exists)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

OUT := $(CURDIR)/out
TEST_TARGET ?= Spinbox.sln
PREFIX ?= /usr/local
SHARE := $(PREFIX)/share/spinbox
ETC ?= /etc/spinbox
# Read at recipe time, after the kernel / initramfs targets have written them.
KERNEL_DIR = $$(cat $(OUT)/kernel.path)
INITRAMFS = $$(cat $(OUT)/initramfs.path)

.PHONY: deps kernel initramfs shim config images test demo bench install uninstall clean

$(OUT):
	mkdir -p $(OUT)

deps:
	bash scripts/deps.sh

# The build scripts cache by their inputs and print where the result is; we keep that path.
kernel: | $(OUT)
	bash guest-kernel/build.sh > $(OUT)/kernel.path.tmp && mv $(OUT)/kernel.path.tmp $(OUT)/kernel.path
	@echo "kernel: $$(cat $(OUT)/kernel.path) ($$(cat $$(cat $(OUT)/kernel.path)/release))"

initramfs: | $(OUT)
	bash guest-kernel/build-initramfs.sh > $(OUT)/initramfs.path.tmp && mv $(OUT)/initramfs.path.tmp $(OUT)/initramfs.path
	@echo "initramfs: $$(cat $(OUT)/initramfs.path)"

shim: | $(OUT)
	dotnet publish src/Shim/Spinbox.Shim.csproj -c Release -o $(OUT)/bin --nologo
	test -x $(OUT)/bin/containerd-shim-spinbox-v1

config: kernel initramfs
	bash scripts/spinbox-config.sh "$(KERNEL_DIR)" "$(INITRAMFS)" > $(OUT)/config.json

images:
	bash scripts/images.sh build

# Tests see the built artifacts through these; without them the spinbox cases report as skipped.
test: deps kernel initramfs shim config images
	SPINBOX_SHIM_DIR=$(OUT)/bin SPINBOX_CONFIG=$(OUT)/config.json SPINBOX_KERNEL_DIR="$(KERNEL_DIR)" \
	  bash scripts/run-tests.sh $(TEST_TARGET)

demo: deps shim config images
	SPINBOX_SHIM_DIR=$(OUT)/bin SPINBOX_CONFIG=$(OUT)/config.json bash scripts/demo.sh

bench: deps shim config images
	SPINBOX_SHIM_DIR=$(OUT)/bin SPINBOX_CONFIG=$(OUT)/config.json bash bench/ctr-run-bench.sh both 5

install: shim kernel initramfs
	install -D -m 0755 $(OUT)/bin/containerd-shim-spinbox-v1 $(PREFIX)/bin/containerd-shim-spinbox-v1
	install -D -m 0644 "$(KERNEL_DIR)/vmlinux" $(SHARE)/vmlinux
	install -D -m 0644 "$(KERNEL_DIR)/bzImage" $(SHARE)/bzImage
	install -D -m 0644 "$(INITRAMFS)" $(SHARE)/initramfs.cpio.gz
	@if [ -f $(ETC)/config.json ]; then echo "keeping existing $(ETC)/config.json"; \
	else install -d $(ETC) && bash scripts/spinbox-config.sh $(SHARE) $(SHARE)/initramfs.cpio.gz > $(ETC)/config.json \
	  && echo "wrote $(ETC)/config.json"; fi

uninstall:
	rm -f $(PREFIX)/bin/containerd-shim-spinbox-v1
	rm -rf $(SHARE)
	rm -f $(ETC)/config.json
	-rmdir $(ETC) 2>/dev/null

clean:
	rm -rf $(OUT)
