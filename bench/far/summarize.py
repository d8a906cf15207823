#!/usr/bin/env python3
"""bench/far/summarize.py: turns the raw tables of bench/far/run into
bench/results/far.tsv (every measurement, one schema), far.md (with the
issue's Targets table) and far.png (slowdown against all-local, gnuplot
through bench/lib/report.py). bench/far/run keeps its inputs next to them
(far-work.tsv, far-stats.tsv, far-malloc.tsv, far-fault.tsv, far-meta.tsv,
far-faultpath.txt), so the report can be rebuilt without a new run:

  summarize.py --work W.tsv --stats S.tsv --malloc M.tsv --fault F.tsv --meta META.tsv
               [--faultpath FAULT_PATH.txt] --out DIR
"""
import argparse
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import report  # noqa: E402

PEERS = ['all-local', 'shunt', 'kernel swap', 'shunt, prefetch off']
WORKLOADS = ['touch', 'uniform', 'zipf', 'seq', 'sort']
WL_TEXT = {
    'touch': 'first touch, random order (a zero-fill fault per page)',
    'uniform': 'random 4 KiB, uniform (read the page, write a word)',
    'zipf': 'random 4 KiB, Zipf 0.99 (read the page, write a word)',
    'seq': 'sequential scan (read each page)',
    'sort': 'GNU sort -S 1G of the whole file (one op = one sort)',
}
num = report.num
fmt = report.fmt


def us(v):
    x = num(v)
    return 'NA' if x is None else fmt(x / 1000.0)


def ok(r):
    return r is not None and r.get('status') == 'ok'


def main(argv):
    ap = argparse.ArgumentParser()
    for a in ('work', 'stats', 'malloc', 'fault', 'meta', 'out'):
        ap.add_argument('--' + a, required=True)
    ap.add_argument('--faultpath')
    a = ap.parse_args(argv)
    _, work = report.read_tsv(a.work)
    _, stats = report.read_tsv(a.stats)
    _, mrows = report.read_tsv(a.malloc)
    _, fault = report.read_tsv(a.fault)
    _, metar = report.read_tsv(a.meta)
    meta = {r['key']: r['value'] for r in metar}

    # ---- workload rows with slowdown (mean time per op against all-local's) ----
    cell = {}
    for r in work:
        cell[(r['peer'], r['local'], r['workload'])] = r
    for r in work:
        base = cell.get(('all-local', 'all', r['workload']))
        m, b = num(r.get('mean_ns')), num(base.get('mean_ns')) if ok(base) else None
        r['slowdown'] = '%.3f' % (m / b) if ok(r) and m and b else 'NA'

    # ---- malloc: per peer and workload, the median over the rounds of each statistic ----
    mal = {}
    for r in mrows:
        mal.setdefault((r['peer'], r['workload']), []).append(r)
    malloc = []
    for (peer, wl), rs in mal.items():
        good = [r for r in rs if num(r.get('median_ns')) is not None]
        row = {'peer': peer, 'workload': wl, 'rounds': str(len(good))}
        if good:
            for k in ('ops', 'median_ns', 'p99_ns', 'mean_ns', 'cpu_ns_op'):
                row[k] = '%.2f' % statistics.median(num(r[k]) for r in good)
            row['status'] = 'ok'
        else:
            for k in ('ops', 'median_ns', 'p99_ns', 'mean_ns', 'cpu_ns_op'):
                row[k] = 'NA'
            row['status'] = next((r.get('status') or r.get('cpu_ns_op') for r in rs), 'failed')
        malloc.append(row)
    mcell = {(r['peer'], r['workload']): r for r in malloc}
    for r in malloc:
        j = mcell.get(('jemalloc', r['workload']))
        x, y = num(r.get('median_ns')), num(j.get('median_ns')) if j else None
        r['x_jemalloc'] = '%.3f' % (x / y) if x and y else 'NA'

    fcell = {r['what']: r for r in fault if r.get('status') == 'ok'}
    ffail = [r for r in fault if r.get('status', '').startswith('failed')]
    rtt = num(fcell.get('transport_rtt', {}).get('p50_ns'))

    # ---- far.tsv: every measurement, one schema ----
    cols = ['section', 'peer', 'local_pct', 'workload', 'ops', 'median_ns', 'p99_ns', 'mean_ns', 'cpu_ns_op',
            'server_cpu_ns_op', 'ratio', 'ratio_of', 'status']
    out_rows = []
    for r in work:
        out_rows.append({'section': 'workload', 'peer': r['peer'], 'local_pct': r['local'], 'workload': r['workload'],
                         'ops': r['ops'], 'median_ns': r['median_ns'], 'p99_ns': r['p99_ns'], 'mean_ns': r['mean_ns'],
                         'cpu_ns_op': r['cpu_ns_op'], 'server_cpu_ns_op': r['server_cpu_ns_op'],
                         'ratio': r['slowdown'], 'ratio_of': 'mean / all-local mean', 'status': r['status']})
    for r in malloc:
        out_rows.append({'section': 'malloc', 'peer': r['peer'], 'local_pct': 'NA', 'workload': r['workload'],
                         'ops': r['ops'], 'median_ns': r['median_ns'], 'p99_ns': r['p99_ns'], 'mean_ns': r['mean_ns'],
                         'cpu_ns_op': r['cpu_ns_op'], 'server_cpu_ns_op': 'NA', 'ratio': r['x_jemalloc'],
                         'ratio_of': 'median / plain jemalloc median', 'status': r['status']})
    for r in fault:
        p50 = num(r.get('p50_ns'))
        out_rows.append({'section': 'fault', 'peer': 'shunt (runtime API)', 'local_pct': 'NA', 'workload': r['what'],
                         'ops': r['n'], 'median_ns': r['p50_ns'], 'p99_ns': r['p99_ns'], 'mean_ns': r['mean_ns'],
                         'cpu_ns_op': 'NA', 'server_cpu_ns_op': 'NA',
                         'ratio': '%.3f' % (p50 / rtt) if p50 and rtt else 'NA',
                         'ratio_of': 'p50 / transport_rtt p50', 'status': r['status']})
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, 'far.tsv'), 'w') as f:
        f.write('\t'.join(cols) + '\n')
        for r in out_rows:
            f.write('\t'.join(str(r.get(c, 'NA')).replace('\t', ' ') for c in cols) + '\n')

    # ---- targets ----
    def wl(peer, loc, w):
        r = cell.get((peer, loc, w))
        return r if ok(r) else None

    def why(peer, loc, w):
        r = cell.get((peer, loc, w))
        return r['status'] if r else 'not run'

    def verdict(good):
        return '**met**' if good else '**not met**'
    targets = []
    for w, name in (('malloc_pair', 'malloc+free pairs'), ('malloc_batch', 'batches of 1000')):
        s, j = mcell.get(('libshunt.so, far on', w)), mcell.get(('jemalloc', w))
        x = num(s.get('x_jemalloc')) if s else None
        if x is None:
            targets.append(('small malloc/free (%s) within 1.1x of plain jemalloc' % name,
                            'not measured: %s' % ((s or {}).get('status') if s and s.get('status') != 'ok'
                                                  else (j or {}).get('status', 'no row')), '**not evaluated**'))
        else:
            targets.append(('small malloc/free (%s) within 1.1x of plain jemalloc' % name,
                            '%.2fx: %s ns (libshunt.so, far on) vs %s ns (jemalloc) median per pair; glibc %s ns' % (
                                x, fmt(s['median_ns']), fmt(j['median_ns']),
                                fmt(mcell.get(('glibc', w), {}).get('median_ns', 'NA'))), verdict(x <= 1.1)))
    t = wl('shunt', '100', 'touch')
    extra = []
    if 'zero_fill' in fcell:
        extra.append('runtime API first touch p50 %s us' % us(fcell['zero_fill']['p50_ns']))
    st = next((s for s in stats if s['peer'] == 'shunt' and s['local'] == '100' and s['run'] == 'farbench'), None)
    if st and num(st.get('far_fault_zero_p50_ns')) is not None:
        extra.append('handler service time p50 %s us' % us(st['far_fault_zero_p50_ns']))
    if t:
        targets.append(('zero-fill fault p50 under 6 us',
                        'first touch under LD_PRELOAD at 100%% local: p50 %s us, p99 %s us (%s)' % (
                            us(t['median_ns']), us(t['p99_ns']), '; '.join(extra) or 'no other figure'),
                        verdict(num(t['median_ns']) < 6000)))
    else:
        targets.append(('zero-fill fault p50 under 6 us', 'not measured: %s' % why('shunt', '100', 'touch'),
                        '**not evaluated**'))
    rem = fcell.get('remote')
    if rem and rtt:
        x = num(rem['p50_ns']) / rtt
        targets.append(('remote fault p50 within 1.3x of the transport round trip',
                        '%.2fx: remote fault p50 %s us (p99 %s) vs one 4 KiB TCP read p50 %s us (p99 %s), same shunt-memd' % (
                            x, us(rem['p50_ns']), us(rem['p99_ns']), us(fcell['transport_rtt']['p50_ns']),
                            us(fcell['transport_rtt']['p99_ns'])), verdict(x <= 1.3)))
    else:
        targets.append(('remote fault p50 within 1.3x of the transport round trip',
                        'not measured: %s' % (ffail[0]['status'] if ffail else 'no remote/transport_rtt row'),
                        '**not evaluated**'))
    s, k = wl('shunt', '50', 'zipf'), wl('kernel swap', '50', 'zipf')
    if s and k:
        xs, xk = num(s['slowdown']), num(k['slowdown'])
        targets.append(('at 50% local memory, Zipf slowdown no worse than kernel swap\'s',
                        'shunt %.2fx vs kernel swap %.2fx all-local (mean per op %s us vs %s us; medians %s vs %s us)' % (
                            xs, xk, us(s['mean_ns']), us(k['mean_ns']), us(s['median_ns']), us(k['median_ns'])),
                        verdict(xs <= xk)))
    else:
        targets.append(('at 50% local memory, Zipf slowdown no worse than kernel swap\'s',
                        'not measured: shunt %s; kernel swap %s' % ('ok' if s else why('shunt', '50', 'zipf'),
                                                                   'ok' if k else why('kernel swap', '50', 'zipf')),
                        '**not evaluated**'))
    p, n = wl('shunt', '50', 'seq'), wl('shunt, prefetch off', '50', 'seq')
    if p and n:
        x = num(n['mean_ns']) / num(p['mean_ns'])
        more = ''
        p25, n25 = wl('shunt', '25', 'seq'), wl('shunt, prefetch off', '25', 'seq')
        if p25 and n25:
            more += '; at 25%%: %.1fx' % (num(n25['mean_ns']) / num(p25['mean_ns']))
        if 'seq_prefetch' in fcell and 'seq_no_prefetch' in fcell:
            more += '; runtime API re-read after eviction: %.1fx' % (
                num(fcell['seq_no_prefetch']['mean_ns']) / num(fcell['seq_prefetch']['mean_ns']))
        targets.append(('sequential scan with prefetch at least 3x faster than without',
                        '%.1fx at 50%% local: %s us per page with prefetch, %s us without%s' % (
                            x, us(p['mean_ns']), us(n['mean_ns']), more), verdict(x >= 3)))
    else:
        targets.append(('sequential scan with prefetch at least 3x faster than without',
                        'not measured: with %s; without %s' % ('ok' if p else why('shunt', '50', 'seq'),
                                                              'ok' if n else why('shunt, prefetch off', '50', 'seq')),
                        '**not evaluated**'))

    # ---- far.md ----
    o = []
    o.append('# Far memory: shunt vs all-local vs kernel swap\n\n')
    o.append('Produced by `bench/far/run BUILD_DIR` (what `make bench` runs) on %s, %s; commit %s%s, '
             'libshunt.so built %s. Load average %s at the start, %s at the end; the run took %s s.\n\n' % (
                 meta.get('machine', '?'), meta.get('date', '?'), meta.get('commit', '?'),
                 ' with %s changed files under runtime/ preload/ include/' % meta['dirty']
                 if meta.get('dirty', '0') != '0' else '', meta.get('lib_built', '?'), meta.get('load_start', '?'),
                 meta.get('load_end', '?'), meta.get('duration_s', '?')))
    try:
        loaded = float(meta.get('load_start', '0').split()[0]) >= 1.5 or float(meta.get('load_end', '0').split()[0]) >= 1.5
    except ValueError:
        loaded = False
    if loaded:
        o.append('**The machine was loaded during this run** (other sessions building and testing on its 2 CPUs): '
                 'absolute times are noisy; compare the peers within the run.\n\n')
    o.append('Working set %s MiB (one malloc), local memory at 100%%, 50%% and 25%% of it: shunt gets '
             '`SHUNT_LOCAL_MEM` = that budget (TCP to a shunt-memd on 127.0.0.1 started by the run, `SHUNT_FAR_MIN=256K`), '
             'which bounds its far pages only; the kernel-swap peer runs in a memory cgroup limited to the budget plus '
             'the process\'s own memory outside the working set (%s, its peak RSS with a 1 MiB working set less 1 MiB) plus %s MiB for page tables and kernel memory the '
             'cgroup also charges, with a swap file on; all-local runs with no limit. %s. %s.\n\n' % (
                 meta.get('ws_mib', '?'), meta.get('farbench_base', '?'), meta.get('margin_mib', '?'),
                 'Kernel swap: ' + meta['kswap'] if 'kswap' in meta else 'Kernel swap: not set up',
                 'Memory server: ' + meta.get('memd', '?')))
    o.append('## Targets (issue 3)\n\n| target | measured | result |\n| --- | --- | --- |\n')
    for t in targets:
        o.append('| %s | %s | %s |\n' % (t[0], t[1].replace('|', '\\|'), t[2]))

    o.append('\n## Slowdown against all-local\n\nMean time per operation (for sort: wall time of the sort) over '
             'all-local\'s; all-local\'s own mean in the first column.\n\n')
    o.append('| workload | local memory | all-local mean us | shunt | kernel swap | shunt, prefetch off |\n'
             '| --- | ---: | ---: | ---: | ---: | ---: |\n')

    def sd(peer, loc, w):
        r = cell.get((peer, loc, w))
        if r is None:
            return ''
        if not ok(r):
            return r['status'].replace('|', '\\|')
        return '%sx' % fmt(r['slowdown'])
    for w in WORKLOADS:
        base = cell.get(('all-local', 'all', w))
        for loc in ('100', '50', '25'):
            if not any((p, loc, w) in cell for p in PEERS):
                continue
            o.append('| %s | %s%% | %s | %s | %s | %s |\n' % (
                w, loc, us(base['mean_ns']) if ok(base) else (base or {}).get('status', 'not run'),
                sd('shunt', loc, w), sd('kernel swap', loc, w), sd('shunt, prefetch off', loc, w)))

    o.append('\n## Per operation\n\nMicroseconds per operation: median and p99 of the timed operations (each '
             'operation timed on its own), mean (wall time over operations), and CPU time per operation of the client '
             'process (all its threads: shunt\'s fault handler and evictor count) and of the server (every thread of '
             'shunt-memd; for kernel swap, kswapd0; reclaim the cgroup limit forces is done by the client itself and '
             'shows in its CPU time). Sort: one operation is one sort.\n\n')
    o.append('| peer | local | workload | ops | median us | p99 us | mean us | client CPU us/op | server CPU us/op | slowdown |\n'
             '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n')
    order = {p: i for i, p in enumerate(PEERS)}
    for r in sorted(work, key=lambda r: (WORKLOADS.index(r['workload']) if r['workload'] in WORKLOADS else 99,
                                         {'all': 0, '100': 1, '50': 2, '25': 3}.get(r['local'], 9),
                                         order.get(r['peer'], 9))):
        loc = 'no limit' if r['local'] == 'all' else r['local'] + '%'
        if ok(r):
            o.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' % (
                r['peer'], loc, r['workload'], r['ops'], us(r['median_ns']), us(r['p99_ns']), us(r['mean_ns']),
                us(r['cpu_ns_op']), us(r['server_cpu_ns_op']), fmt(r['slowdown']) + 'x' if num(r['slowdown']) else 'NA'))
        else:
            o.append('| %s | %s | %s | %s |  |  |  |  |  |  |\n' % (r['peer'], loc, r['workload'],
                                                                   r['status'].replace('|', '\\|')))

    o.append('\n## Fault latency\n\nAs the program sees it, through the runtime API (`fault_latency.c` linked with '
             'libshunt_rt.a, no preload), against the same shunt-memd; `transport_rtt` is one 4 KiB read on a '
             'connection of its own, the floor a remote fault can reach. `remote` reads pages in random order '
             'after every page was evicted, with prefetch off; `seq_*` re-read them in order after eviction '
             '(per-page time; the mean is the throughput).\n\n')
    o.append('| what | n | p50 us | p99 us | mean us | p50 / transport p50 |\n| --- | ---: | ---: | ---: | ---: | ---: |\n')
    for r in fault:
        if r.get('status') != 'ok':
            o.append('| %s | %s |  |  |  |  |\n' % (r['what'], r['status'].replace('|', '\\|')))
            continue
        p50 = num(r['p50_ns'])
        o.append('| %s | %s | %s | %s | %s | %s |\n' % (
            r['what'], r['n'], us(r['p50_ns']), us(r['p99_ns']), us(r['mean_ns']),
            '%.2fx' % (p50 / rtt) if p50 and rtt and r['what'] in ('remote', 'seq_no_prefetch', 'transport_rtt') else ''))
    o.append('\nUnder `LD_PRELOAD`, the handler\'s own service time per fault (from `SHUNT_STATS=json`, '
             '`far_fault_*_p50_ns`/`p99_ns`) and shunt\'s counters for each run:\n\n')
    o.append('| run | local | zero-fill faults | zero-fill p50/p99 us | remote faults | remote p50/p99 us | '
             'write-protect faults | prefetched | evictions | write-backs |\n'
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n')
    for s in stats:
        name = s['peer'] + (', sort' if s['run'] == 'sort' else '')
        o.append('| %s | %s%% | %s | %s / %s | %s | %s / %s | %s | %s | %s | %s |\n' % (
            name, s['local'], s['far_faults_zero'], us(s['far_fault_zero_p50_ns']), us(s['far_fault_zero_p99_ns']),
            s['far_faults_remote'], us(s['far_fault_remote_p50_ns']), us(s['far_fault_remote_p99_ns']),
            s['far_faults_wp'], s['far_prefetched'], s['far_evictions'], s['far_writebacks']))

    o.append('\n## Small malloc/free\n\nNanoseconds per malloc+free of 16-512 bytes (`malloc_small.c`), timed in '
             'blocks of 1000; median and p99 over 3000 blocks, then the median of %s interleaved rounds. '
             '*pair*: free right after malloc; *batch*: 1000 allocations, then 1000 frees. libshunt.so with far '
             'memory on talks to the same shunt-memd (`SHUNT_LOCAL_MEM=64M`); these sizes stay local.\n\n' %
             max((r.get('rounds', '0') for r in malloc), default='0'))
    o.append('| peer | workload | median ns | p99 ns | mean ns | CPU ns/op | x jemalloc |\n'
             '| --- | --- | ---: | ---: | ---: | ---: | ---: |\n')
    for r in malloc:
        if r['status'] != 'ok':
            o.append('| %s | %s | %s |  |  |  |  |\n' % (r['peer'], r['workload'], r['status'].replace('|', '\\|')))
        else:
            o.append('| %s | %s | %s | %s | %s | %s | %s |\n' % (r['peer'], r['workload'], fmt(r['median_ns']),
                                                               fmt(r['p99_ns']), fmt(r['mean_ns']), fmt(r['cpu_ns_op']),
                                                               fmt(r['x_jemalloc']) + 'x' if num(r['x_jemalloc']) else 'NA'))

    if a.faultpath and os.path.exists(a.faultpath):
        o.append('\n## Fault-path candidates\n\nHow the runtime\'s fault path was chosen (`fault_path.c`, 4096 first '
                 'touches each, latency seen by the faulting thread): the kernel\'s own zero fill; userfaultfd resolved '
                 'in the faulting thread (SIGBUS mode); a handler thread blocked in poll(); a spinning handler; and the '
                 'extra write-protect fault dirty tracking costs (`*-wp`). shunt uses the handler thread, since in '
                 'SIGBUS mode a system call into a missing page fails.\n\n```\n')
        o.append(open(a.faultpath).read().rstrip('\n') + '\n```\n')
    o.append('\n## Method\n\n')
    for w in WORKLOADS:
        o.append('- *%s*: %s\n' % (w, WL_TEXT[w]))
    o.append('- farbench (`bench/far/farbench.c`) is the same binary for every peer; it allocates nothing but the '
             'working set (latencies go to a histogram in static memory, 3%% buckets), touches every page in a '
             'scrambled order, then runs uniform, Zipf and the scan in that order, each random workload warmed '
             'for %s s and timed for %s s, the scan one unmeasured pass then whole passes for at least %s s. '
             'Zipf ranks are scattered over the working set by a bijective hash, so hot pages are not neighbours.\n' % (
                 meta.get('warm_secs', '?'), meta.get('secs', '?'), meta.get('secs', '?')))
    o.append('- sort: `LC_ALL=C sort -S 1G --parallel=1` of %s MiB of base64 lines (99 characters), output hashed and '
             'compared with the native sort\'s; its working set is %s, and the budgets are 100/50/25%% of that '
             '(the kernel-swap cgroup also gets the one-line sort\'s RSS and the margin).\n' % (
                 meta.get('sort_mib', '?'), meta.get('sort_ws', 'unknown')))
    o.append('- shunt with prefetch off is the same run with `SHUNT_FAR_PREFETCH=off` (the scan only).\n')
    o.append('- At 100% shunt may still evict and fetch (see its counters above): its evictor keeps free pages '
             'ahead of the faults, so a budget equal to the working set holds slightly less than all of it.\n')
    o.append('- A kernel-swap cell that says *killed by the memory cgroup\'s OOM killer* is the kernel\'s doing: '
             'with a tight limit, charging a swap-in (with its readahead) to the cgroup can fail and the cgroup '
             'OOM-kills the program although swap has room (the kernel log shows `mem_cgroup_swapin_charge_folio`).\n')
    o.append('- Every figure comes from one run on a shared 2-vCPU guest; compare within the run. Raw tables: '
             '`far.tsv` (every measurement, one schema); the run\'s own tables `far-work.tsv`, `far-stats.tsv` (shunt\'s '
             'counters), `far-malloc.tsv` (every round), `far-fault.tsv`, `far-meta.tsv`, `far-faultpath.txt`; '
             '`bench/far/summarize.py` rebuilds this report from them.\n')
    with open(os.path.join(a.out, 'far.md'), 'w') as f:
        f.write(''.join(o))

    # ---- far.png: slowdown against all-local ----
    crow = []
    for r in work:
        if r['peer'] == 'all-local' or not num(r['slowdown']):
            continue
        crow.append({'x': '%s %s%%' % (r['workload'], r['local']), 'peer': r['peer'], 'slowdown': r['slowdown']})
    crow.sort(key=lambda r: (WORKLOADS.index(r['x'].split()[0]), -int(r['x'].split()[1][:-1])))
    try:
        report.chart(crow, os.path.join(a.out, 'far.png'), ['x'], 'peer', 'slowdown', log=True,
                     title='Far memory: mean time per op over all-local (lower is better; log scale)',
                     ylabel='x all-local', size=(1200, 520))
    except RuntimeError as e:
        print('summarize.py: chart: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
