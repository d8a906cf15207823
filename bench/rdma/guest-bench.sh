# Runs inside the RDMA guest (bench/rdma/run via tests/rdma/guest.sh): the
# same page workload (xport_bench: scattered 4 KiB pages written, then read
# back and checked) over rdma:// and over tcp:// to shunt-memd in the same
# guest, at 1, 8 and 16 pages per call; around the data phases of each
# run (after connect and ALLOC, before close), the memd process's CPU time
# from /proc/PID/stat (utime + stime, clock ticks).
A=${RDMA_GUEST_ADDR:?}
S=/opt/shunt
PAGES=${XB_PAGES:-2048}
timeout 280 $S/shunt-memd --listen rdma://$A:7471 --size 256M >/tmp/memd.rdma 2>&1 &
RDMA_PID=$!
timeout 280 $S/shunt-memd --listen tcp://$A:7472 --size 256M >/tmp/memd.tcp 2>&1 &
TCP_PID=$!
sleep 1
ticks() { awk '{ print $14 + $15 }' /proc/$1/stat; }
rc=0
for tr in rdma tcp; do
	if [ $tr = rdma ]; then pid=$RDMA_PID url=rdma://$A:7471; else pid=$TCP_PID url=tcp://$A:7472; fi
	for b in 1 8 16; do
		rm -f /tmp/xb.in /tmp/xb.out
		mkfifo /tmp/xb.in
		timeout 120 $S/tests/xport_bench $url $PAGES $b --sync </tmp/xb.in >/tmp/xb.out 2>&1 &
		xb=$!
		exec 4>/tmp/xb.in
		until grep -q '^ready' /tmp/xb.out || ! kill -0 $xb 2>/dev/null; do sleep 0.1; done
		s0=$(ticks $pid)
		echo go >&4
		until grep -q '^done' /tmp/xb.out || ! kill -0 $xb 2>/dev/null; do sleep 0.1; done
		s1=$(ticks $pid)
		echo go >&4
		exec 4>&-
		if ! wait $xb; then
			echo "xport_bench $url $b failed: $(cat /tmp/xb.out)"
			rc=1
			continue
		fi
		echo "RESULT where=guest $(grep '^transport=' /tmp/xb.out) server_ticks=$((s1 - s0)) clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)"
	done
done
cat /proc/loadavg
exit $rc
