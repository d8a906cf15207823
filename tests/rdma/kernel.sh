#!/usr/bin/env bash
# Prepares, once, the Debian kernel the RDMA guest tests boot (see
# /work/shared/RDMA-TESTING.md): downloads the linux-image package that
# linux-image-amd64 depends on with apt-get download, extracts the
# uncompressed vmlinux (booting it skips the BIOS and decompressor) and the
# modules the soft-RoCE stack needs, into a cache outside the clone.
#   tests/rdma/kernel.sh   prints the kernel's cache directory on stdout
# Exits non-zero with a message when the kernel cannot be had: the RDMA
# tests then FAIL, they never skip.
set -euo pipefail

# Load order; each .ko's depends= was checked by hand on 6.1.
MODULES="configfs crc32_generic udp_tunnel ip6_udp_tunnel ib_core ib_uverbs iw_cm ib_cm rdma_cm rdma_ucm rdma_rxe dummy"

cache=${SHUNT_RDMA_CACHE:-}
if [ -z "$cache" ]; then
	cache=/var/cache/shunt-rdma
	mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=${XDG_CACHE_HOME:-$HOME/.cache}/shunt-rdma
fi
mkdir -p "$cache"

die() { echo "tests/rdma/kernel.sh: $*" >&2; exit 1; }

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
	# No package lists (offline?): use what the cache already holds.
	pkg=$(cd "$cache" && ls -d linux-image-*-amd64 2>/dev/null | sort -V | tail -1 || true)
	[ -n "$pkg" ] || die "cannot find the kernel package linux-image-amd64 depends on (apt-get update?) and none is cached in $cache"
fi
kver=${pkg#linux-image-}
dir=$cache/$pkg
if [ -f "$dir/ready" ]; then
	echo "$dir"
	exit 0
fi
deb=$(ls "$cache"/"$pkg"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
	echo "tests/rdma/kernel.sh: downloading $pkg (~70 MB, once) into $cache" >&2
	(cd "$cache" && timeout 600 apt-get download "$pkg" >&2) || die "apt-get download $pkg failed"
	deb=$(ls "$cache"/"$pkg"_*.deb 2>/dev/null | head -1 || true)
	[ -n "$deb" ] || die "apt-get download $pkg left no .deb in $cache"
fi
tmp=$(mktemp -d "$cache/extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "./boot/vmlinuz-*" "./lib/modules/$kver/kernel/*" ||
	die "cannot extract $deb"
mkdir -p "$tmp/out/modules"
for m in $MODULES; do
	ko=$(find "$tmp/lib/modules/$kver/kernel" -name "$m.ko" | head -1)
	[ -n "$ko" ] || die "$pkg has no $m.ko"
	cp "$ko" "$tmp/out/modules/"
done
echo "$MODULES" >"$tmp/out/modules/order"
# The uncompressed kernel: the xz stream inside the bzImage.
python3 - "$tmp/boot/vmlinuz-$kver" "$tmp/out/vmlinux.xz" <<'PY' || die "no xz stream in vmlinuz-$kver"
import sys
data = open(sys.argv[1], 'rb').read()
at = data.find(b'\xfd7zXZ\x00')
if at < 0:
    sys.exit(1)
open(sys.argv[2], 'wb').write(data[at:])
PY
xz -dc --single-stream "$tmp/out/vmlinux.xz" >"$tmp/out/vmlinux" 2>/dev/null || [ -s "$tmp/out/vmlinux" ] ||
	die "cannot decompress vmlinux"
rm -f "$tmp/out/vmlinux.xz"
head -c 4 "$tmp/out/vmlinux" | grep -q ELF || die "the extracted vmlinux is not an ELF image"
rm -rf "$dir"
mv "$tmp/out" "$dir"
touch "$dir/ready"
echo "$dir"
