/* shunt's configuration keys: one table, read by the runtime's config parser,
 * the `shunt` command's help and the README. Each key is set as
 * SHUNT_CONF="key:value,..." or as SHUNT_<KEY> (which wins). An unknown key or
 * a bad value stops the program at start-up with a message naming it.
 *
 * X(name, type, default, meaning); types: STR, SIZE (K/M/G/T suffixes),
 * UINT, BOOL (0/1/on/off/true/false), ENUM (value is one of "a|b|c"). */
#ifndef SHUNT_CONFIG_H
#define SHUNT_CONFIG_H

#define SHUNT_CONFIG_KEYS(X) \
	X(fs_mount,      STR,  "",      "Path prefix whose files are served by shuntd; empty turns file redirection off") \
	X(fs_root,       STR,  "",      "Directory exported by an embedded shuntd started when none answers on fs_socket") \
	X(fs_socket,     STR,  "",      "shuntd's UNIX socket; empty means /tmp/shunt-UID/fs-HASH.sock, HASH of fs_root") \
	X(fs_fallback,   ENUM, "error|native", "What a redirected call does when no shuntd can be reached: fail with ENOTCONN/EIO, or go to the kernel on the same path") \
	X(fs_spin_us,    UINT, "50",    "How long a client thread spins for a completion before it sleeps on a futex") \
	X(fs_reopen,     BOOL, "on",    "Keep closed read-only server handles to reopen the same path with no round trip while nothing in the namespace changed") \
	X(fs_idle_ms,    UINT, "2000",  "How long an embedded shuntd stays up with no session before it exits") \
	X(fs_pollers,    UINT, "1",     "Poller threads of an embedded shuntd") \
	X(log,           ENUM, "warn|error|info|debug", "Log level on stderr; debug explains every redirect decision") \
	X(stats,         STR,  "",      "1: print counters to stderr at exit; json:PATH: write them as JSON to PATH") \
	X(far,           ENUM, "auto|off|on|required", "Far memory: auto turns it on when far_server or local_mem is set; required refuses to start without a memory server") \
	X(far_server,    STR,  "",      "Memory server, tcp://HOST:PORT or rdma://ADDR:PORT; empty with far memory on starts an embedded local shunt-memd") \
	X(far_min,       SIZE, "256K",  "Allocations and anonymous mmaps at least this large go to far memory") \
	X(far_size,      SIZE, "64G",   "Virtual size of the far region") \
	X(local_mem,     SIZE, "512M",  "Bound on far-memory pages resident in local RAM") \
	X(far_prefetch,  BOOL, "on",    "Prefetch after sequential and strided remote faults, zero-fill ahead of sequential first touches; off is for comparisons (bench/far)") \
	X(far_zero_map,  BOOL, "on",    "Map fresh far ranges to the zero page while local memory has room, so first touches are ordinary kernel faults; off sends every first touch through the fault handler") \
	X(jsw,           ENUM, "on|off|learn", "Jump switches: on learns and patches, learn only counts targets, off keeps plain safe indirect calls") \
	X(jsw_period,    UINT, "100",   "Milliseconds between jump-switch update passes")

#endif
