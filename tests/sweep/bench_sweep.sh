#!/bin/bash
# The sweep pool's own cost and its scaling (meson benchmark bench_sweep):
# 40 empty points (overhead per point) and 8 CPU-bound points, each with
# -j 1 and -j 2, in one run. Usage: bench_sweep.sh NMLAB
set -eu
nmlab=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d"
wall() {   # spec, jobs -> seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$nmlab" sweep "$here/$1" --db "$d/$1.$2.db" -j "$2" 2>/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
e1=$(wall bench_empty.lua 1); e2=$(wall bench_empty.lua 2)
c1=$(wall bench_cpu.lua 1); c2=$(wall bench_cpu.lua 2)
awk -v e1="$e1" -v e2="$e2" -v c1="$c1" -v c2="$c2" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
  printf "empty points: -j 1 %.2f s (%.1f ms/point), -j 2 %.2f s (%.1f ms/point)\n", e1, e1 * 25, e2, e2 * 25
  printf "cpu points:   -j 1 %.2f s, -j 2 %.2f s, speed-up %.2fx (load average %s)\n", c1, c2, c1 / c2, load }'

