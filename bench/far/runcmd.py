#!/usr/bin/env python3
"""Run one command for bench/far/run and measure it: wall time, CPU time and
peak RSS of the command (GNU time's, from wait4: the kernel's ru_maxrss of a
process Python forks would also count Python's own 17 MiB), and a SHA-1 of
what it wrote on stdout (the sort output, compared between peers without
keeping it).

  runcmd.py [--timeout S] -- CMD ARGS...
Prints one line: "rc wall_s cpu_s maxrss_kib sha1"; rc is the exit status,
-SIGNAL if the command was killed by a signal (-9: the OOM killer), or
"timeout" (the command's process group is killed).
"""
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time


def main(argv):
    timeout = None
    if argv[:1] == ['--timeout']:
        timeout = float(argv[1])
        argv = argv[2:]
    if argv[:1] == ['--']:
        argv = argv[1:]
    h = hashlib.sha1()
    with tempfile.NamedTemporaryFile('r', prefix='runcmd.', suffix='.time') as tf:
        t0 = time.monotonic()
        p = subprocess.Popen(['/usr/bin/time', '-f', '%U %S %M', '-o', tf.name, '--'] + argv,
                             stdout=subprocess.PIPE, start_new_session=True)
        timed_out = False

        def on_alarm(_sig, _frame):
            nonlocal timed_out
            timed_out = True
            os.killpg(p.pid, signal.SIGKILL)
        if timeout:
            signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        while True:
            b = p.stdout.read(1 << 20)
            if not b:
                break
            h.update(b)
        rc = p.wait()
        signal.setitimer(signal.ITIMER_REAL, 0)
        wall = time.monotonic() - t0
        lines = tf.read().split('\n')
    cpu, rss = 'NA', 'NA'
    for line in lines:
        if line.startswith('Command terminated by signal'):
            rc = -int(line.split()[-1])
        elif line.startswith('Command exited with non-zero status'):
            rc = int(line.split()[-1])
        else:
            f = line.split()
            if len(f) == 3:
                cpu, rss = '%.4f' % (float(f[0]) + float(f[1])), f[2]
    print('%s %.4f %s %s %s' % ('timeout' if timed_out else rc, wall, cpu, rss, h.hexdigest()[:16]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
