#!/usr/bin/env bash
# Far-memory micro-benchmarks, one command: the fault-path candidates
# (kernel / SIGBUS / handler thread / spinning / write-protect), the far
# runtime's fault latency seen by the program next to the transport's round
# trip, and the small-malloc cost of the interposers (glibc natively, under
# libshunt.so with far memory off and on, and plain jemalloc).
#   bench/far/run.sh [BUILD_DIR]        (BUILD_DIR defaults to build)
# Machine-noisy numbers: compare the rows of one run.
set -eu
cd "$(dirname "$0")/../.."
B=$(cd "${1:-build}" && pwd)
O=$(mktemp -d /tmp/shunt-bench-far.XXXXXX)
trap 'rm -rf "$O"' EXIT
CF="-std=gnu17 -O2 -D_GNU_SOURCE -Iinclude -Iruntime"
gcc -O2 -D_GNU_SOURCE -o "$O/fault_path" bench/far/fault_path.c -lpthread
gcc $CF -o "$O/fault_latency" bench/far/fault_latency.c "$B/libshunt_rt.a" -lpthread -ldl -lunwind
gcc -O2 -o "$O/malloc_small" bench/far/malloc_small.c
echo "== fault path candidates (4096 first touches)"
"$O/fault_path" 4096
echo "== far runtime, embedded shunt-memd over loopback TCP"
"$O/fault_latency" 4096
echo "== small malloc+free (ns per pair; best of 3 runs each)"
best() { for _ in 1 2 3; do "$@"; done | sort -t: -k2 -n | head -1; }
printf '%-28s %s\n' "glibc, native" "$(best "$O/malloc_small")"
printf '%-28s %s\n' "libshunt.so, far off" "$(best env LD_PRELOAD="$B/libshunt.so" "$O/malloc_small")"
printf '%-28s %s\n' "libshunt.so, far on" "$(best env SHUNT_LOCAL_MEM=64M LD_PRELOAD="$B/libshunt.so" "$O/malloc_small")"
J=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null || true)
[ -n "$J" ] && printf '%-28s %s\n' "jemalloc, preloaded" "$(best env LD_PRELOAD="$J" "$O/malloc_small")"
