#!/bin/bash
# examples/sweep_table1.lua reduced (2 seeds, 128 training and 100 test
# images) end to end with its report: every point ok, checks in
# table1_check.lua, the report's table and PNG. Suite slow (about a
# minute). Usage: table1.sh NMLAB
set -u
nmlab=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export T1_SEEDS=2 T1_TRAIN_LIMIT=128 T1_TEST_LIMIT=100
"$nmlab" sweep "$root/examples/sweep_table1.lua" --db t.db -j 2 2>log || { fail "sweep"; cat log; }
"$nmlab" run "$here/table1_check.lua" t.db 2 || fail "table1_check.lua"
"$nmlab" run "$root/examples/sweep_table1_report.lua" t.db t.png > report.txt || fail "report"
[ "$(grep -c '^jnf\|^nm\|^dense\|^srste\|^slim' report.txt)" -eq 9 ] || { fail "report rows"; cat report.txt; }
[ "$(head -c 8 t.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "t.png is not a PNG"
T1_SEEDS=x "$nmlab" sweep "$root/examples/sweep_table1.lua" --db bad.db 2>bad.log
[ $? -eq 2 ] && grep -q "T1_SEEDS must be a whole number" bad.log || fail "bad T1_SEEDS"
[ $fails -eq 0 ] && echo "table1.sh: all passed"
exit $((fails > 0))
