#!/bin/bash
# The sweep pool's own cost and its scaling (meson benchmark bench_sweep):
# 40 empty points (overhead per point: wall time, and CPU time of nmlab and
# its workers, which a busy machine does not inflate) and 8 CPU-bound
# points, each with -j 1 and -j 2, next to the speed-up two plain processes
# doing the same work get on this machine at the same time (the baseline),
# in one run. Usage: bench_sweep.sh NMLAB
set -eu
nmlab=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d"
TIMEFORMAT='%R %U %S'
run() {   # spec, jobs -> "wall user sys" seconds (user, sys: with the workers)
  { time "$nmlab" sweep "$here/$1" --db "$d/$1.$2.db" -j "$2" 2>/dev/null; } 2>&1
}
# The baseline: the same 8 pieces of work as bench_cpu.lua's points, each a
# plain `nmlab -e` process, one after another and as two chains of 4 at
# once: what two processes gain on this machine now, without the pool.
work='local s = 0; for i = 1, 3e7 do s = s + i % 7 end'
chain() { for _ in $(seq "$1"); do "$nmlab" -e "$work" >/dev/null; done; }
b1=$( { time chain 8; } 2>&1 ); b2=$( { time { chain 4 & chain 4; wait; }; } 2>&1 )
e1=$(run bench_empty.lua 1); e2=$(run bench_empty.lua 2)
c1=$(run bench_cpu.lua 1); c2=$(run bench_cpu.lua 2)
awk -v e1="$e1" -v e2="$e2" -v c1="$c1" -v c2="$c2" -v b1="$b1" -v b2="$b2" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
    -v cores="$(nproc)" 'BEGIN {
  split(e1, a, " "); split(e2, b, " "); split(c1, c, " "); split(c2, e, " ")
  printf "empty points: -j 1 %.2f s wall (%.1f ms/point), -j 2 %.2f s (%.1f ms/point); CPU %.1f ms/point (user+sys, with workers)\n",
    a[1], a[1] * 25, b[1], b[1] * 25, (a[2] + a[3]) * 25
  printf "cpu points:   -j 1 %.2f s, -j 2 %.2f s wall, speed-up %.2fx; CPU %.2f s and %.2f s\n",
    c[1], e[1], c[1] / e[1], c[2] + c[3], e[2] + e[3]
  split(b1, f, " "); split(b2, g, " ")
  printf "baseline:     the same work as 8 plain processes, 1 at a time %.2f s, 2 at a time %.2f s: speed-up %.2fx\n",
    f[1], g[1], f[1] / g[1]
  printf "load average %s on %d cores\n", load, cores }'
