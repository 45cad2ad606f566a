#!/bin/bash
# nmlab sweep --mpi (tests/sweep/meson.build, when MPI was found): the same
# spec on the local pool and under mpirun -np 3 (rank 0 + two worker
# ranks) gives the same points, statuses, errors and metrics; a crash or a
# timeout on a worker rank is that point's status, not a dead rank; a rerun
# under MPI skips finished points. Usage: mpi.sh NMLAB MPIRUN
set -u
nmlab=$(readlink -f "$1")
mpirun=$2
here=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d" || exit 1
cp "$here"/tiny.lua "$here"/dump.lua .
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
mpi() { "$mpirun" --allow-run-as-root --oversubscribe -np 3 "$nmlab" "$@"; }
export OMPI_MCA_btl=self,vader,tcp   # (one host; no InfiniBand probing)
# Under the sanitizers (build-san): no leak check at exit here. OpenMPI's
# runtime leaves allocations at exit (libopen-rte, libpmix), and a point's
# child inherits the rank's MPI threads, which makes LSan's exit check of
# an os.exit point take seconds (past --timeout). ASan and UBSan still
# check every access; the pool's leaks are checked by sweep_cli.
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
T=2

# tiny.lua: 16 points with every outcome (ok, error, crashed, timeout)
"$nmlab" sweep tiny.lua --db local.db -j 2 --timeout $T 2>local.log
[ $? -eq 1 ] || fail "local pool: exit status not 1 (some points fail)"
mpi sweep tiny.lua --db mpi.db --mpi --timeout $T >mpi.out 2>mpi.log
st=$?
[ $st -eq 1 ] || { fail "mpirun: exit status $st, not 1"; cat mpi.log mpi.out; }
"$nmlab" run dump.lua local.db > local.txt || fail "dump local.db"
"$nmlab" run dump.lua mpi.db > mpi.txt || fail "dump mpi.db"
[ "$(wc -l < local.txt)" -eq 16 ] || fail "local.db holds $(wc -l < local.txt) points, not 16"
diff local.txt mpi.txt || fail "--mpi results differ from the local pool's"
for s in ok error crashed timeout; do
  [ "$(awk -F'\t' -v s=$s '$3 == s' mpi.txt | wc -l)" -eq 4 ] || fail "mpi.db: not 4 points $s"
done
grep -q "running 16 on 2 MPI ranks" mpi.log || { fail "rank 0's summary line"; cat mpi.log; }

# rerun: everything is finished, nothing runs; --retry reruns the 12 failed
mpi sweep tiny.lua --db mpi.db --mpi --timeout $T >/dev/null 2>mpi2.log
grep -q "running 0 on" mpi2.log || { fail "rerun ran points again"; cat mpi2.log; }
SWEEP_FIX=1 SWEEP_NOSPIN=1 mpi sweep tiny.lua --db mpi.db --mpi --retry \
  >/dev/null 2>mpi3.log
grep -q "running 12 on 2 MPI ranks" mpi3.log || { fail "--retry under MPI"; cat mpi3.log; }
# now raise and spin are ok; exit still crashes
[ "$("$nmlab" run dump.lua mpi.db | awk -F'\t' '$3 == "ok"' | wc -l)" -eq 12 ] ||
  fail "after --retry: not 12 points ok"

# one rank cannot run anything: refused
"$mpirun" --allow-run-as-root --oversubscribe -np 1 "$nmlab" sweep tiny.lua --db one.db --mpi \
  >/dev/null 2>one.log
[ $? -eq 2 ] || fail "-np 1: exit status not 2"
grep -q "use -np 2 or more" one.log || { fail "-np 1 message"; cat one.log; }

# mpirun stopped (SIGTERM: a background job of this script ignores
# SIGINT) while two points spin (no --timeout): the ranks end, and so do
# the points' processes (no orphan left spinning); the finished rows stay
# readable.
"$mpirun" --allow-run-as-root --oversubscribe -np 3 "$nmlab" sweep tiny.lua --db "$d/int.db" \
  --mpi >/dev/null 2>int.log &
mp=$!
for _ in $(seq 100); do   # until the 12 points that end have their rows
  [ "$("$nmlab" -e "local r = nm.runs.open('$d/int.db'); print(r and r:count() or 0)" 2>/dev/null)" \
    = 12 ] && break
  sleep 0.2
done
sleep 0.5
kill -TERM $mp
wait $mp
left=""
for _ in $(seq 50); do
  left=$(pgrep -f "$d/int.db")
  [ -z "$left" ] && break
  sleep 0.2
done
if [ -n "$left" ]; then
  fail "processes left after stopping mpirun: $left"
  kill -9 $left 2>/dev/null
fi
"$nmlab" -e "local r = assert(nm.runs.open('$d/int.db')); assert(r:count() == 12 and r:count('ok') == 4)" \
  || fail "the interrupted database"

[ $fails -eq 0 ] && echo "mpi: all checks passed"
exit $((fails > 0))
