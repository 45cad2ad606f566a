#!/bin/bash
# nmlab sweep end to end (tests/sweep/meson.build): statuses, resume,
# --retry, shards (and Slurm's variables) + merge, refusals, bad specs,
# export parsed back, Ctrl-C. Usage: sweep.sh NMLAB
set -u
nmlab=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d" || exit 1
cp "$here"/tiny.lua "$here"/spin.lua "$here"/check.lua .
fails=0
# long enough for a worker that calls os.exit under ASan (its leak check at
# exit takes a while on a busy machine), short enough for a quick test
T=2
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ids() { "$nmlab" sweep export "$1" --csv | awk -F, 'NR > 1 && length($1) == 16 && $1 !~ /[^0-9a-f]/ {print $1}' | sort; }

# 1. bad specs: exit status 2 and a message naming what is wrong
bad() {   # name, spec text, expected message
  printf '%s\n' "$2" > "$1.lua"
  out=$("$nmlab" sweep "$1.lua" --db bad.db 2>&1); st=$?
  [ $st -eq 2 ] || fail "$1: exit status $st, want 2"
  echo "$out" | grep -qF -- "$3" || fail "$1: message '$out' lacks '$3'"
}
bad norun 'return {params = {n = {1}}}' "norun.lua: field 'run' must be a function"
bad notable 'return 42' "must return a table"
bad notlist 'return {params = {n = 3}, run = print}' "params.n must be a list of values"
bad empty 'return {params = {n = {}}, run = print}' "params.n is an empty list"
bad nested 'return {params = {n = {{1}}}, run = print}' "params.n[1] is a table"
bad twice 'return {params = {n = {1, 1}}, run = print}' "params.n lists the same value twice"
bad seeds 'return {seeds = 0, run = print}' "field 'seeds' must be a count"
bad syntax 'return {' "syntax.lua"
[ ! -e bad.db ] || fail "a bad spec created the database"
"$nmlab" sweep tiny.lua 2>/dev/null; [ $? -eq 2 ] || fail "no --db: status not 2"
"$nmlab" sweep tiny.lua --db x.db --shard 4/3 2>/dev/null; [ $? -eq 2 ] || fail "--shard 4/3 accepted"

# a run function that returns no table of metrics: that point's error
printf '%s\n' 'return {params = {r = {"num", "tab", "key", "big"}}, run = function(p)' \
  '  if p.r == "num" then return 42 elseif p.r == "tab" then return {m = {1}} end' \
  '  if p.r == "big" then return {s = string.rep("x", 65 << 20)} end' \
  '  return {[1] = 2} end}' > ret.lua
"$nmlab" sweep ret.lua --db ret.db -j 2 2> ret.err; st=$?
[ $st -eq 1 ] || fail "ret.lua: exit status $st, want 1"
grep -q 'error: run returned a number, not a table of metrics' ret.err || fail "a number returned"
grep -q "error: metric 'm' is a table" ret.err || fail "a table metric"
grep -q 'error: run returned a table with a number key' ret.err || fail "a number key"
grep -q "error: the point's result (metrics or message) passed 64 MB" ret.err || fail "a 65 MB metric"
# a database that is not one: refused, left as it was
echo "not a database" > junk.db
out=$("$nmlab" sweep tiny.lua --db junk.db 2>&1); st=$?
[ $st -eq 2 ] && echo "$out" | grep -q "junk.db: not a usable database" || fail "sweep into junk: $st $out"
[ "$(cat junk.db)" = "not a database" ] || fail "the sweep wrote into a file that is not a database"

# 2. the first run: every kind of outcome, the sweep goes on
"$nmlab" sweep tiny.lua --db a.db -j 2 --timeout $T 2> run1.err; st=$?
[ $st -eq 1 ] || { cat run1.err; fail "first run: exit status $st, want 1 (some failed)"; }
grep -q "4 ok, 4 error, 4 crashed, 4 timeout" run1.err || { cat run1.err; fail "first run counts"; }
grep -q "16/16 done, 12 failed" run1.err || fail "no progress line"
"$nmlab" sweep export a.db --csv > a.csv || fail "export --csv"
"$nmlab" run check.lua a.db a.csv first || fail "check after the first run"

# 3. resume: nothing runs again, the rows stay as they were
"$nmlab" sweep tiny.lua --db a.db -j 2 --timeout $T 2> run2.err; st=$?
[ $st -eq 1 ] || fail "resume: exit status $st"
grep -q "4 already ok, 12 failed kept" run2.err || { cat run2.err; fail "resume did not skip"; }
grep -q "running 0 on" run2.err || fail "resume ran points"
"$nmlab" sweep export a.db --csv > a2.csv
cmp -s a.csv a2.csv || fail "resume changed the database"

# 4. --retry reruns the failed points only; now the raising ones pass
SWEEP_FIX=1 "$nmlab" sweep tiny.lua --db a.db -j 2 --timeout $T --retry 2> run3.err
grep -q "running 12 on" run3.err || { cat run3.err; fail "--retry did not rerun 12"; }
"$nmlab" sweep export a.db --csv > a3.csv
"$nmlab" run check.lua a.db a3.csv fixed || fail "check after --retry"
grep ',ok,,.*,ok,[12],' a.csv | sort > ok1
grep ',ok,,.*,ok,[12],' a3.csv | sort > ok3
[ -s ok1 ] && cmp -s ok1 ok3 || fail "--retry rewrote points that were ok"

# 5. a different spec into the same database is refused
sed 's/"tiny"/"tiny2"/' tiny.lua > other.lua
out=$("$nmlab" sweep other.lua --db a.db 2>&1); st=$?
[ $st -eq 2 ] && echo "$out" | grep -q "of another spec" || fail "mixed spec: $st $out"

# 6. shards 1/3..3/3 + merge = the whole sweep's ids; Slurm's variables
export SWEEP_NOSPIN=1
for i in 1 2 3; do
  "$nmlab" sweep tiny.lua --db s$i.db -j 2 --shard $i/3 2>/dev/null
  ids s$i.db > s$i.ids
done
cat s1.ids s2.ids s3.ids | sort > union.ids
ids a.db > all.ids
[ "$(wc -l < all.ids)" -eq 16 ] || fail "the unsharded database has $(wc -l < all.ids) ids"
cmp -s union.ids all.ids || fail "the shards' ids are not the sweep's ids"
[ "$(sort -u union.ids | wc -l)" -eq 16 ] || fail "shards overlap"
# by position: shard I holds the points at positions I-1, I-1+3, ... (6, 5, 5);
# r:points() lists a whole sweep in position order
cat > pos.lua <<'EOS'
local r = assert(nm.runs.open(arg[1]))
local k, i, t = tonumber(arg[2]), tonumber(arg[3]), {}
for n, p in ipairs(r:points()) do if (n - 1) % k == i - 1 then t[#t + 1] = p.id end end
table.sort(t)
print(table.concat(t, "\n"))
EOS
for i in 1 2 3; do
  "$nmlab" run pos.lua a.db 3 $i > want$i.ids || fail "pos.lua"
  cmp -s want$i.ids s$i.ids || fail "shard $i/3 is not the points at positions $((i - 1)) mod 3"
done
[ "$(wc -l < s1.ids)" -eq 6 ] && [ "$(wc -l < s3.ids)" -eq 5 ] || fail "shards of 16 points are not 6, 5, 5"
# the ids do not depend on the order of the lists nor of the keys
sed -e 's/{"ok", "raise", "exit", "spin"}/{"spin", "exit", "raise", "ok"}/' -e 's/x = {1, 2}/x = {2, 1}/' \
  -e 's/params = {kind = \(.*\), x = \(.*\)},/params = {x = \2, kind = \1},/' tiny.lua > reordered.lua
cmp -s tiny.lua reordered.lua && fail "reordered.lua is not reordered"
"$nmlab" sweep reordered.lua --db r.db -j 2 2>/dev/null
ids r.db > r.ids
cmp -s r.ids all.ids || fail "reordering the lists changed the ids"
"$nmlab" sweep merge m.db s1.db s2.db s3.db 2> merge.err || { cat merge.err; fail "merge"; }
ids m.db > m.ids
cmp -s m.ids all.ids || fail "the merged ids are not the sweep's ids"
# the merged rows are the shards' rows (statuses, metrics), in spec order
cat s1.db s2.db > /dev/null
for i in 1 2 3; do "$nmlab" sweep export s$i.db --csv | tail -n +2; done | sort > shards.rows
"$nmlab" sweep export m.db --csv | tail -n +2 | sort > m.rows
cmp -s shards.rows m.rows || fail "merged rows differ from the shards' rows"
# merging again changes nothing
"$nmlab" sweep merge m.db s2.db 2>/dev/null || fail "merging a shard again"
"$nmlab" sweep export m.db --csv | tail -n +2 | sort > m2.rows
cmp -s m.rows m2.rows || fail "merging a shard twice changed rows"
SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=3 \
  "$nmlab" sweep tiny.lua --db slurm.db -j 2 2> slurm.err
grep -q "shard 2/3" slurm.err || { cat slurm.err; fail "Slurm variables not read"; }
ids slurm.db > slurm.ids
cmp -s slurm.ids s2.ids || fail "Slurm task 2 of 3 ran other points than --shard 2/3"
SLURM_ARRAY_TASK_ID=9 SLURM_ARRAY_TASK_COUNT=3 "$nmlab" sweep tiny.lua --db x.db 2>/dev/null
[ $? -eq 2 ] || fail "a Slurm task id past the count was accepted"
"$nmlab" sweep other.lua --db o.db --shard 1/3 2>/dev/null
out=$("$nmlab" sweep merge m3.db s1.db o.db 2>&1); st=$?
[ $st -eq 2 ] && echo "$out" | grep -q "another spec" || fail "merge of two specs: $st $out"
[ ! -e m3.db ] || fail "a refused merge created its output"
out=$("$nmlab" sweep export junk.db --csv 2>&1); st=$?
[ $st -eq 2 ] && echo "$out" | grep -q "junk.db" || fail "export of junk: $st $out"
[ "$(cat junk.db)" = "not a database" ] || fail "export wrote into a file that is not ours"
"$nmlab" sweep export a.db --json | grep -q '"spec_hash"' || fail "export --json"
unset SWEEP_NOSPIN

# 7. Ctrl-C: the workers stop, nmlab exits 130, the database stays readable
"$nmlab" sweep spin.lua --db "$d/i.db" -j 2 2> int.err &
pid=$!
for _ in $(seq 50); do grep -q "running 4 on" int.err 2>/dev/null && break; sleep 0.1; done
out=$("$nmlab" sweep spin.lua --db "$d/i.db" --timeout 1 2>&1); st=$?
[ $st -eq 2 ] && echo "$out" | grep -q "another nmlab sweep is running" || fail "a second sweep on one database: $st $out"
kill -INT $pid
wait $pid; st=$?
[ $st -eq 130 ] || { cat int.err; fail "Ctrl-C: exit status $st, want 130"; }
grep -q "interrupted" int.err || fail "Ctrl-C: no message"
sleep 0.2
pgrep -f "$d/i.db" > /dev/null && { pkill -KILL -f "$d/i.db"; fail "workers left running"; }
"$nmlab" -e "local r = assert(nm.runs.open('$d/i.db')); assert(r:count() == 0)" \
  || fail "the interrupted database"

# 8. isolation: every point starts from the spec's state as loaded (the
# workers fork from one interpreter made once), whatever the points before
# it changed: a global counter, a library table, a point that crashed
printf '%s\n' 'count = 0' 'return {name = "iso", params = {x = {1, 2, 3, 4, 5, 6}}, run = function(p)' \
  '  count = count + 1; local had = string.marked; string.marked = true' \
  '  if p.x == 3 then os.exit(1) end' \
  '  return {count = count, had = had == true}' 'end}' > iso.lua
"$nmlab" sweep iso.lua --db iso.db -j 2 2>/dev/null; [ $? -eq 1 ] || fail "iso: exit status not 1"
"$nmlab" -e "local r = assert(nm.runs.open('$d/iso.db'))
  assert(r:count('ok') == 5 and r:count('crashed') == 1, 'iso: statuses')
  for _, p in ipairs(r:points('ok')) do
    assert(p.metrics.count == 1 and p.metrics.had == false, 'iso: point ' .. p.params.x .. ' saw another')
  end" || fail "points are not isolated from each other"

[ $fails -eq 0 ] && echo "sweep.sh: all passed"
exit $((fails > 0))
