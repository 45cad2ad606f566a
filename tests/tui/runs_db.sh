#!/usr/bin/env bash
# Makes the database of a real sweep of tests/sweep/tiny.lua (four points
# of each status: ok, error, crashed, timeout) and runs the reader's unit
# tests (test_runs) on it. Usage: runs_db.sh NMLAB TEST_RUNS [ARGS...]
set -u
nmlab=$(readlink -f "$1"); exe=$(readlink -f "$2"); shift 2
spec=$(cd "$(dirname "$0")/../sweep" && pwd)/tiny.lua
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
# --timeout 2: a worker that calls os.exit under ASan takes a while to end
(cd "$d" && "$nmlab" sweep "$spec" --db tiny.db -j 2 --timeout 2 > sweep.log 2>&1)
if ! grep -q "4 ok, 4 error, 4 crashed, 4 timeout" "$d/sweep.log"; then
  echo "Bail out! the sweep of tiny.lua did not give 4 points of each status:"
  sed 's/^/# /' "$d/sweep.log"
  exit 1
fi
RUNS_DB="$d/tiny.db" "$exe" "$@"
