#!/usr/bin/env bash
# Boots a throw-away QEMU guest (software emulation, no network to the host)
# from Debian's own kernel with soft-RoCE (rdma_rxe) on dummy0 at
# 192.168.77.1, and runs a payload script in it next to this build's
# binaries; returns the payload's exit code, which the guest prints on its
# console. See /work/shared/RDMA-TESTING.md for why each choice.
#   tests/rdma/guest.sh BUILD_DIR PAYLOAD.sh [OUT_DIR]
# In the guest: the build's programs in /opt/shunt (shunt-memd, libshunt.so,
# tests/*, plus the programs named in $SHUNT_RDMA_BINS), coreutils sort, busybox for the rest; the payload runs
# as /payload.sh with RDMA_GUEST_ADDR set, and files it writes under
# /out are printed between markers and unpacked into OUT_DIR on the host.
set -euo pipefail
B=$(cd "${1:?BUILD_DIR}" && pwd)
PAYLOAD=${2:?PAYLOAD}
OUT=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
BOOT_TIMEOUT=${SHUNT_RDMA_TIMEOUT:-330}

die() { echo "tests/rdma/guest.sh: $*" >&2; exit 1; }
for t in qemu-system-x86_64 cpio busybox rdma; do
	command -v "$t" >/dev/null || [ -x "/bin/$t" ] || die "$t is missing (make deps installs qemu-system-x86, cpio, busybox-static, iproute2)"
done
[ -e /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so ] || die "the rxe provider is missing (make deps installs ibverbs-providers)"
kdir=$("$here/kernel.sh") || die "no kernel for the guest (see the message above)"

work=$(mktemp -d /tmp/shunt-rdma-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc/libibverbs.d,proc,sys,dev,tmp,out,opt/shunt/tests,modules}

# Programs and the shared-library closure ldd reports, plus what is loaded
# at run time that ldd cannot see: rdma-core itself (dlopen()ed by
# libshunt), the rxe provider and libgcc_s (pthread_exit needs it).
add_file() { # path in the host == path in the guest
	local f=$1
	[ -e "$root$f" ] && return 0
	mkdir -p "$root$(dirname "$f")"
	cp -L "$f" "$root$f"
}
add_closure() {
	local f
	for f in "$@"; do
		add_file "$f"
		ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | while read -r lib; do add_file "$lib"; done
	done
}
cp /bin/busybox "$root/bin/busybox"
ML=/usr/lib/x86_64-linux-gnu
add_closure /usr/bin/rdma /usr/bin/sort /usr/bin/cmp \
	$ML/libibverbs.so.1 $ML/librdmacm.so.1 $ML/libibverbs/librxe-rdmav34.so $ML/libgcc_s.so.1
cp /etc/libibverbs.d/rxe.driver "$root/etc/libibverbs.d/"
add_closure "$B/libshunt.so" "$B/shunt-memd"
cp "$B/libshunt.so" "$B/shunt-memd" "$root/opt/shunt/"
for t in "$B"/tests/far_verify "$B"/tests/far_memd_client "$B"/tests/far_fork_check "$B"/tests/far_fork_mt "$B"/tests/jsw_stress ${SHUNT_RDMA_BINS:-}; do
	[ -x "$t" ] || continue
	add_closure "$t"
	cp "$t" "$root/opt/shunt/tests/"
done
# usr-merged Debian: /lib and /lib64 are links into /usr on the host; the
# copies above went to the paths ldd printed, so both trees exist here.
read -r MODULES <"$kdir/modules/order"
for m in $MODULES; do cp "$kdir/modules/$m.ko" "$root/modules/"; done
cp "$PAYLOAD" "$root/payload.sh"
if [ -n "${SHUNT_RDMA_EXTRA:-}" ]; then cp -r $SHUNT_RDMA_EXTRA "$root/tmp/"; fi

cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
guest_exit() {
	echo "SHUNT-GUEST-EXIT=\$1"
	sync
	poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 5
}
for m in $MODULES; do
	insmod /modules/\$m.ko || { echo "guest: insmod \$m failed"; guest_exit 90; }
done
ip link set lo up
ip link set dummy0 up
ip addr add 192.168.77.1/24 dev dummy0
# iproute2's rdma, by full path (busybox has no such applet).
/usr/bin/rdma link add rxe0 type rxe netdev dummy0 || { echo "guest: rdma link add failed"; guest_exit 91; }
ls /dev/infiniband/ >/dev/null 2>&1 || { echo "guest: no /dev/infiniband"; guest_exit 92; }
echo "guest: rxe0 on dummy0 192.168.77.1 ready after \$(cut -d' ' -f1 /proc/uptime) s"
export RDMA_GUEST_ADDR=192.168.77.1
cd /tmp
sh /payload.sh
rc=\$?
for f in /out/*; do
	[ -f "\$f" ] || continue
	echo "SHUNT-GUEST-FILE-BEGIN \${f#/out/}"
	base64 "\$f"
	echo "SHUNT-GUEST-FILE-END"
done
guest_exit \$rc
EOF
chmod +x "$root/init" "$root/payload.sh"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initrd.cpio"

accel="tcg,thread=multi"
cpu=max
# KVM only where a real hardware virtualisation module is loaded (the
# nested kvm_pvm layer on these machines is far slower than TCG).
if grep -qE '^(kvm_intel|kvm_amd) ' /proc/modules 2>/dev/null && [ -w /dev/kvm ]; then
	accel=kvm
	cpu=host
fi
log=$work/console.log
echo "tests/rdma/guest.sh: booting $(basename "$kdir") under $accel with $(basename "$PAYLOAD")" >&2
set +e
timeout --kill-after=10 "$BOOT_TIMEOUT" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp 2 -m 1024 \
	-kernel "$kdir/vmlinux" -initrd "$work/initrd.cpio" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
	-nic none -display none -serial "file:$log" -monitor none -no-reboot >"$work/qemu.out" 2>&1
qrc=$?
set -e
# The payload's output (not the file dumps) to our stdout.
sed -e '/^SHUNT-GUEST-FILE-BEGIN/,/^SHUNT-GUEST-FILE-END/d' -e 's/\r$//' "$log"
if [ -n "$OUT" ]; then
	mkdir -p "$OUT"
	awk -v out="$OUT" '
		/^SHUNT-GUEST-FILE-BEGIN / { name = $2; sub(/\r$/, "", name); f = out "/" name ".b64"; next }
		/^SHUNT-GUEST-FILE-END/ { close(f); f = ""; next }
		f != "" { sub(/\r$/, ""); print > f }' "$log"
	for f in "$OUT"/*.b64; do
		[ -f "$f" ] || continue
		base64 -d "$f" >"${f%.b64}" && rm -f "$f"
	done
fi
rc=$(sed -n 's/^SHUNT-GUEST-EXIT=\([0-9]*\).*/\1/p' "$log" | tail -1)
if [ -z "$rc" ]; then
	echo "tests/rdma/guest.sh: the guest printed no exit code (qemu exit $qrc$([ $qrc -eq 124 ] && echo ', timed out after '"$BOOT_TIMEOUT"' s'))" >&2
	cat "$work/qemu.out" >&2
	exit 99
fi
exit "$rc"
