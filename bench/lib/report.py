#!/usr/bin/env python3
"""Benchmark report helpers shared by every benchmark under bench/ (file I/O,
jump switches, far memory): turn a results TSV into a Markdown table and a PNG
bar chart (gnuplot). Benchmarks call it as a program or import it.

Input: a TSV file with one header line, one row per measurement. Cells that
are not numbers ("NA", "failed: ...") are kept as text in tables and left out
of charts.

As a program:

  report.py table IN.tsv [--cols SPEC] [--where COL=V1,V2 ...]
      Markdown table on stdout. SPEC is a comma list of COL or COL=Header
      (default: every column). Numbers get 3 significant digits.

  report.py chart IN.tsv --out OUT.png --x COL[+COL...] --series COL --y COL
                  [--log] [--title T] [--ylabel L] [--where COL=V1,V2 ...]
                  [--size W,H]
      Clustered bar chart: one cluster per distinct x (first-seen order; with
      several columns their values are joined with '/'), one bar per distinct
      series value (first-seen order), bar height = y. --log for a log y axis.
      Needs gnuplot; uses the pngcairo terminal, or png where cairo is absent.

  Example (bench/fs/run):
      report.py chart fs.tsv --out fs.png --x workload+threads --series peer \\
          --y median_ns --log --ylabel 'median latency (ns)'

As a module (sys.path.insert(0, 'bench/lib'); import report):
  read_tsv(path) -> (header, rows as dicts)
  fmt(value) -> str                  3 significant digits for numbers
  md_table(header, rows, cols=None) -> str
  chart(rows, out, x, series, y, log=False, title='', ylabel='', size=(1100, 500))
"""
import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile


def read_tsv(path):
    with open(path) as f:
        lines = [l.rstrip('\n') for l in f if l.strip()]
    if not lines:
        return [], []
    header = lines[0].split('\t')
    rows = []
    for l in lines[1:]:
        cells = l.split('\t')
        cells += [''] * (len(header) - len(cells))
        rows.append(dict(zip(header, cells)))
    return header, rows


def num(v):
    """float(v) or None for non-numbers."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt(v):
    x = num(v)
    if x is None:
        return '' if v is None else str(v)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    if abs(x) >= 100:
        return '%.0f' % x
    digits = 2 - int(math.floor(math.log10(abs(x))))
    return '%.*f' % (max(digits, 0), x)


def parse_cols(spec, header):
    if not spec:
        return [(c, c) for c in header]
    out = []
    for part in spec.split(','):
        col, _, title = part.partition('=')
        out.append((col, title or col))
    return out


def md_table(header, rows, cols=None):
    """cols: list of (column, title); default every column."""
    cols = cols or [(c, c) for c in header]
    out = ['| ' + ' | '.join(t for _, t in cols) + ' |',
           '| ' + ' | '.join('---:' if _numeric_col(rows, c) else '---' for c, _ in cols) + ' |']
    for r in rows:
        out.append('| ' + ' | '.join(fmt(r.get(c, '')).replace('|', '\\|') for c, _ in cols) + ' |')
    return '\n'.join(out) + '\n'


def _numeric_col(rows, col):
    vals = [r.get(col, '') for r in rows]
    return bool(vals) and all(num(v) is not None or v in ('', 'NA') for v in vals) and \
        any(num(v) is not None for v in vals)


def where(rows, conds):
    for cond in conds or []:
        col, _, vals = cond.partition('=')
        allowed = set(vals.split(','))
        rows = [r for r in rows if r.get(col) in allowed]
    return rows


def _terminal():
    probe = subprocess.run(['gnuplot', '-e', 'set terminal pngcairo'], capture_output=True, text=True)
    return 'pngcairo' if probe.returncode == 0 and not probe.stderr.strip() else 'png'


def chart(rows, out, x, series, y, log=False, title='', ylabel='', size=(1100, 500)):
    """Clustered bars of y per x (list of columns) and series. Returns 0 or raises."""
    if not shutil.which('gnuplot'):
        raise RuntimeError('gnuplot not found')
    xs, ss, val = [], [], {}
    for r in rows:
        xv = '/'.join(r.get(c, '') for c in x)
        sv = r.get(series, '')
        v = num(r.get(y))
        if v is None or (log and v <= 0):
            continue
        if xv not in xs:
            xs.append(xv)
        if sv not in ss:
            ss.append(sv)
        val[(xv, sv)] = v
    if not val:
        raise RuntimeError('no numeric values of %s to plot' % y)
    with tempfile.TemporaryDirectory() as tmp:
        dat = os.path.join(tmp, 'data.tsv')
        with open(dat, 'w') as f:
            f.write('\t'.join(['x'] + ss) + '\n')
            for xv in xs:
                f.write('\t'.join([xv] +
                                  [repr(val[(xv, s)]) if (xv, s) in val else '?' for s in ss]) + '\n')
        lo = min(val.values())
        hi = max(val.values())
        gp = [
            'set terminal %s size %d,%d' % (_terminal(), size[0], size[1]),
            'set output %s' % _q(out),
            'set datafile separator "\\t"',
            'set datafile missing "?"',
            'set style data histograms',
            'set style histogram clustered gap 1',
            'set style fill solid 0.85 border -1',
            'set key outside right top noenhanced',
            'set grid ytics',
            'set xtics rotate by -25 noenhanced',
            'set title %s noenhanced' % _q(title),
            'set ylabel %s' % _q(ylabel),
        ]
        if log:
            gp += ['set logscale y',
                   'set yrange [%g:%g]' % (10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi) + 0.01))]
        else:
            gp += ['set yrange [0:%g]' % (hi * 1.1)]
        gp.append("plot for [i=2:%d] %s using i:xtic(1) title columnheader(i)" % (len(ss) + 1, _q(dat)))
        script = os.path.join(tmp, 'plot.gp')
        with open(script, 'w') as f:
            f.write('\n'.join(gp) + '\n')
        res = subprocess.run(['gnuplot', script], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError('gnuplot failed: ' + res.stderr.strip())
    return 0


def _q(s):
    return '"' + str(s).replace('\\', '\\\\').replace('"', '\\"') + '"'


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('table')
    t.add_argument('tsv')
    t.add_argument('--cols')
    t.add_argument('--where', action='append')
    c = sub.add_parser('chart')
    c.add_argument('tsv')
    c.add_argument('--out', required=True)
    c.add_argument('--x', required=True)
    c.add_argument('--series', required=True)
    c.add_argument('--y', required=True)
    c.add_argument('--log', action='store_true')
    c.add_argument('--title', default='')
    c.add_argument('--ylabel', default='')
    c.add_argument('--where', action='append')
    c.add_argument('--size', default='1100,500')
    a = ap.parse_args(argv)
    header, rows = read_tsv(a.tsv)
    rows = where(rows, a.where)
    if a.cmd == 'table':
        sys.stdout.write(md_table(header, rows, parse_cols(a.cols, header)))
        return 0
    w, h = (int(v) for v in a.size.split(','))
    try:
        chart(rows, a.out, a.x.split('+'), a.series, a.y, a.log, a.title, a.ylabel, (w, h))
    except RuntimeError as e:
        print('report.py: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
