#!/usr/bin/env bash
# shunt-memd as a real program on loopback: round trips through the TCP
# transport, a client refused clearly when it asks for more than is left,
# a client's pages freed when its connection ends, malformed requests that
# fail alone, --max-clients, bad arguments. Kills only the server it started.
set -u
B=${SHUNT_BUILD:?SHUNT_BUILD must name the build directory}
MEMD=$B/shunt-memd
CLI=$B/tests/far_memd_client
T=$(mktemp -d /tmp/shunt-far-memd.XXXXXX)
MEMD_PID=
fails=0

cleanup() {
	exec 3>&- 4>&- 2>/dev/null
	if [ -n "$MEMD_PID" ] && kill -0 "$MEMD_PID" 2>/dev/null; then
		kill "$MEMD_PID" 2>/dev/null
		wait "$MEMD_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what (command: $*)"; fi; }

# ---- arguments ----
"$MEMD" --listen tcp://127.0.0.1:0 --size lots >"$T/a.out" 2>&1
check "bad --size exits 2" test $? -eq 2
check "bad --size is named" grep -q "bad --size 'lots'" "$T/a.out"
"$MEMD" --size 1G >"$T/a.out" 2>&1
check "missing --listen exits 2" test $? -eq 2
"$MEMD" --listen tcp://127.0.0.1:0 --max-clients 0 >"$T/a.out" 2>&1
check "bad --max-clients exits 2" test $? -eq 2

# ---- a server ----
"$MEMD" --listen tcp://127.0.0.1:0 --size 64M --max-clients 3 >"$T/memd.out" 2>"$T/memd.err" &
MEMD_PID=$!
for _ in $(seq 100); do grep -q "listening on port" "$T/memd.out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$T/memd.out")
[ -n "$PORT" ] || { bad "server did not start: $(cat "$T/memd.err")"; exit 1; }
URL=tcp://127.0.0.1:$PORT
ok "server up at $URL"

check "round trip 40 MiB" "$CLI" "$URL" roundtrip 40
check "pool whole again after the round trip" test "$("$CLI" "$URL" free)" = $((64 << 20))

"$CLI" "$URL" ask 100 >"$T/ask.out" 2>"$T/ask.err"
check "asking for more than the pool is refused" test $? -eq 3
check "the refusal says what is left" grep -q "refused 100 MiB: only 64 MiB left" "$T/ask.err"

# A client holds 48 MiB; another asking for 32 is refused; when the holder's
# connection ends its pages are free again.
mkfifo "$T/hold.in"
"$CLI" "$URL" hold 48 <"$T/hold.in" >"$T/hold.out" 2>&1 &
HOLD=$!
exec 3>"$T/hold.in"
for _ in $(seq 100); do grep -q holding "$T/hold.out" && break; sleep 0.05; done
check "holder has its pages" grep -q "holding 48 MiB" "$T/hold.out"
check "server shows 16 MiB free" test "$("$CLI" "$URL" free)" = $((16 << 20))
"$CLI" "$URL" ask 32 >/dev/null 2>"$T/ask2.err"
check "a second client asking past what is left is refused" test $? -eq 3
check "with a clear message" grep -q "only 16 MiB left" "$T/ask2.err"
exec 3>&-
wait "$HOLD"
check "holder read its pages back intact" test $? -eq 0
for _ in $(seq 100); do [ "$("$CLI" "$URL" free)" = $((64 << 20)) ] && break; sleep 0.05; done
check "holder's pages freed at disconnect" test "$("$CLI" "$URL" free)" = $((64 << 20))

# Malformed requests fail alone; the server lives on.
check "malformed frames refused, noise drops only that stream" "$CLI" "$URL" garbage
check "server alive after garbage" "$CLI" "$URL" roundtrip 8

# --max-clients 3: three held connections, then a fourth is refused.
mkfifo "$T/cl.in"
"$CLI" "$URL" clients 3 <"$T/cl.in" >"$T/cl.out" 2>&1 &
CL=$!
exec 4>"$T/cl.in"
for _ in $(seq 100); do grep -q connected "$T/cl.out" && break; sleep 0.05; done
"$CLI" "$URL" free >/dev/null 2>"$T/busy.err"
check "a client past --max-clients is refused" test $? -eq 2
check "with a clear message" grep -q "too many clients" "$T/busy.err"
exec 4>&-
wait "$CL"
for _ in $(seq 100); do "$CLI" "$URL" free >/dev/null 2>&1 && break; sleep 0.05; done
check "slots come back" "$CLI" "$URL" roundtrip 1

check "server still running" kill -0 "$MEMD_PID"
kill "$MEMD_PID"
wait "$MEMD_PID"
check "server exits 0 on SIGTERM" test $? -eq 0
MEMD_PID=

# Unreachable server: the client says so.
"$CLI" "$URL" free >/dev/null 2>"$T/gone.err"
check "no server: connect error" test $? -eq 2
check "no server: message names it" grep -q "cannot reach shunt-memd at $URL" "$T/gone.err"

echo "far_memd: $fails failed"
[ "$fails" -eq 0 ]
