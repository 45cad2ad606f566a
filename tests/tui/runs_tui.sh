#!/usr/bin/env bash
# The Runs screen (7) end to end on the databases of real sweeps of
# tests/sweep/tiny.lua: batch frames (`--frames N --keys ...`, the last
# frame grepped) for the table, sorting, grouping, search, details, the
# Pareto plot, the PNG export and bad files; then, in tmux, the screen
# following a sweep that writes while it is open. Usage: runs_tui.sh NMLAB
set -u
bin=$(readlink -f "$1")
spec=$(cd "$(dirname "$0")/../sweep" && pwd)/tiny.lua
d=$(mktemp -d)
sock="nmlab-runs-$$"
T=(tmux -L "$sock" -f /dev/null)
holder=
cleanup() {
  [ -n "$holder" ] && kill "$holder" 2>/dev/null
  command -v tmux >/dev/null && "${T[@]}" kill-server >/dev/null 2>&1
  rm -rf "$d"
}
trap cleanup EXIT
cd "$d" || exit 1
export XDG_CONFIG_HOME=$d/config
passes=0 fails=0
ok() { echo "ok - $1"; passes=$((passes + 1)); }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }

# check NAME PATTERN -- nmlab args...: the last frame (120x40) matches PATTERN
check() {
  local name=$1 pat=$2; shift 3
  local out rc
  out=$(COLUMNS=${FC:-120} LINES=${FL:-40} "$bin" "$@" 2>&1); rc=$?
  if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -qE -- "$pat"; then
    ok "$name"
  else
    nok "$name (exit $rc): /$pat/ not in:"; printf '%s\n' "$out" | sed 's/^/#   /'
  fi
}

# --timeout 2: a worker that calls os.exit under ASan takes a while to end
"$bin" sweep "$spec" --db a.db -j 2 --timeout 2 > sweep.log 2>&1
grep -q "4 ok, 4 error, 4 crashed, 4 timeout" sweep.log || { nok "the sweep of tiny.lua"; cat sweep.log; }

check "--runs lists the points with status and metrics" "tiny +a\.db +16 points: 4 ok, 4 error, 4 crashed, 4 timeout" -- --frames 2 --runs a.db
check "a point's params and metrics are columns" "^>1 +ok +1 +ok +1 +true +0\.5 +ok .* 11 " -- --frames 2 --runs a.db
# the cell cuts the spec's path to its file name, whatever the checkout's path
check "failed points show their status and message" "^ 5 +error +1 +raise +1 +[0-9.]+ +tiny\.lua:[0-9]+: boom 1" -- --frames 2 --runs a.db
# columns: # status seed kind x good half metric.kind note y time error
check "s sorts by the cursor's column, s again descending (arrow in the title)" "y▼" -- --frames 14 --runs a.db --keys Right,Right,Right,Right,Right,Right,Right,Right,Right,s,s
check "descending y puts y = 22 first" "^>4 +ok +2 +ok +2 .* 22 " -- --frames 15 --runs a.db --keys Right,Right,Right,Right,Right,Right,Right,Right,Right,s,s,Home
check "a re-sort keeps the selected point" "^>3 +ok +1 +ok +2 .* 21 " -- --frames 15 --runs a.db --keys Down,Down,Right,Right,Right,Right,Right,Right,Right,Right,Right,s,s
check "ascending seed: the seed-1 points first, in spec order" "^>3 +ok +1 +ok +2 " -- --frames 7 --runs a.db --keys Right,Right,s,Home,Down
check "g groups over the seeds: mean and 95% interval" "^>1 +2 +ok +1 +0\.5±0 +11\.5±6\.4" -- --frames 3 --runs a.db --keys g
check "the grouped title counts the groups" "\(2 groups\)" -- --frames 3 --runs a.db --keys g
check "/ finds a row by its text" "^>9 +crashed " -- --frames 4 --runs a.db --keys "/,'crashed,Enter"
check "n goes to the next match" "^>10 +crashed " -- --frames 5 --runs a.db --keys "/,'crashed,Enter,n"
check "Enter shows a point in full, its error too" "boom 1" -- --frames 7 --runs a.db --keys Down,Down,Down,Down,Enter
check "v shows the Pareto plot of the first two numeric metrics" "Pareto: y \(max\) against half \(min\) +● front 2 of 4" -- --frames 3 --runs a.db --keys v
check "X flips the x goal (then only (1, 22) is on the front)" "against half \(max\) +● front 1 of 4" -- --frames 4 --runs a.db --keys v,X
check "x on a column of text is refused" "status is not a numeric column" -- --frames 4 --runs a.db --keys Right,x
FC=80 FL=24 check "80x24 with the plot" "Pareto: y \(max\)" -- --frames 3 --runs a.db --keys v
check "F4 opens a .db on the Runs screen" "\[7 Runs\].*" -- --frames 6 --keys "F4,'a.db,Enter" 
check "F4 with a .db: its points" "16 points: 4 ok" -- --frames 6 --keys "F4,'a.db,Enter"
check "F6 with nothing open asks for a file" "Open model \(file or zoo name\) or sweep \.db" -- --frames 2 --keys F6
check "the function-key bar names the Runs screen" "F6Runs" -- --frames 1
check "the help lists the Runs screen's keys" "group the ok points over the seeds" -- --frames 3 --keys F1,End

# e: the Pareto plot as a PNG, a new file each time
out=$(COLUMNS=120 LINES=40 "$bin" --frames 4 --runs a.db --keys v,e 2>&1)
png=nmlab-runs-tiny-1.png
if grep -q "exported $png" <<<"$out" && [ -f "$png" ]; then ok "e exports the plot"; else nok "e exports the plot"; printf '%s\n' "$out" | tail -3; fi
sig=$(head -c 8 "$png" 2>/dev/null | od -An -tx1 | tr -d ' \n')
[ "$sig" = "89504e470d0a1a0a" ] && ok "the export is a PNG" || nok "the export is a PNG (signature $sig)"
# IHDR: width and height, big-endian, at bytes 16..23
wh=$(od -An -tu1 -j16 -N8 "$png" 2>/dev/null | awk '{print ($1*16777216+$2*65536+$3*256+$4) "x" ($5*16777216+$6*65536+$7*256+$8)}')
size=$(stat -c %s "$png" 2>/dev/null || echo 0)
if [ "$wh" = "800x500" ] && [ "$size" -gt 8000 ] && [ "$size" -lt 2000000 ]; then ok "the PNG is 800x500, $size bytes"
else nok "the PNG is $wh, $size bytes"; fi
COLUMNS=120 LINES=40 "$bin" --frames 4 --runs a.db --keys v,e > /dev/null 2>&1
[ -f nmlab-runs-tiny-2.png ] && ok "a second export gets a new name" || nok "a second export gets a new name"
echo 'return {params = {n = {1, 2}}, run = function(p) error("no metrics " .. p.n) end}' > fail.lua
"$bin" sweep fail.lua --db fail.db -j 1 > fail.log 2>&1
check "a sweep whose points all failed: e says why there is no plot" "export failed: choose the plot's axes first" -- --frames 3 --runs fail.db --keys e
check "... and the table still lists its points" "^ 2 +error +1 +2 +[0-9.]+ +fail\.lua:1: no metrics 2" -- --frames 3 --runs fail.db --keys e

# without a terminal --runs says what to use instead
out=$("$bin" --runs a.db 2>&1 < /dev/null); rc=$?
[ "$rc" = 2 ] && grep -q "nmlab sweep export a.db --csv" <<<"$out" && ok "--runs without a terminal points to sweep export" \
  || nok "--runs without a terminal: $out"

out=$("$bin" --runs 2>&1); rc=$?
[ "$rc" = 2 ] && grep -q "runs needs a sweep database" <<<"$out" && ok "--runs without a file" || nok "--runs without a file: $rc $out"
mkdir -p sub && cp a.db sub/ && cp a.db /tmp/nmlab-runs-outside-$$.db
check "--sandbox: a database under the working folder opens" "16 points" -- --sandbox --frames 2 --runs sub/a.db
check "--sandbox: one outside it is refused, named" "nmlab-runs-outside-$$\.db: --sandbox: only files under the working folder" -- --sandbox --frames 2 --runs /tmp/nmlab-runs-outside-$$.db
rm -f /tmp/nmlab-runs-outside-$$.db

# bad files: a message naming the file, the workbench goes on
echo "not a database at all, but long enough to look like one to nobody" > junk.db
: > empty.db
check "a file that is not SQLite" "junk\.db: not an SQLite database" -- --frames 2 --runs junk.db
check "an empty file" "empty\.db: an empty file, not an nmlab sweep database" -- --frames 2 --runs empty.db
check "a missing file" "missing\.db: no such file" -- --frames 2 --runs missing.db
check "F4 with a bad .db: the message box names it" "Could not open junk\.db" -- --frames 6 --keys "F4,'junk.db,Enter"
if command -v python3 >/dev/null && python3 -c 'import sqlite3' 2>/dev/null; then
  python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table t(a)"); c.commit()' other.db
  check "an SQLite file of something else" "other\.db: not an nmlab sweep database" -- --frames 2 --runs other.db
  # a writer in rollback-journal mode holding an exclusive lock
  cp a.db locked.db
  python3 - locked.db <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=DELETE")
c.execute("BEGIN EXCLUSIVE")
c.execute("DELETE FROM points")
open(sys.argv[1] + ".held", "w").close()
time.sleep(60)
PY
  holder=$!
  for _ in $(seq 100); do [ -f locked.db.held ] && break; sleep 0.1; done
  start=$(date +%s)
  check "a locked database: a note naming it, no wait" "locked\.db: locked by another process" -- --frames 3 --runs locked.db
  [ $(( $(date +%s) - start )) -lt 10 ] && ok "the locked file did not stall the frames" || nok "the locked file stalled the frames"
  kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; holder=
  check "after the lock: its rows" "16 points: 4 ok" -- --frames 2 --runs locked.db
else
  echo "ok - # SKIP python3 with sqlite3 not found: no foreign or locked database cases"
fi

# live: the screen open on a database that a sweep then fills
if command -v tmux >/dev/null; then
  SWEEP_NOSPIN=1 "$bin" sweep "$spec" --db live.db -j 2 --shard 1/2 > live1.log 2>&1
  "${T[@]}" new-session -d -s main -x 120 -y 40 \
    "env XDG_CONFIG_HOME=$d/config TERM=xterm-256color LANG=C.UTF-8 $bin --runs live.db; sleep 30"
  screen() { "${T[@]}" capture-pane -p -t main 2>/dev/null; }
  expect() {   # NAME PATTERN SECONDS
    local t=0
    while [ $t -lt $(($3 * 10)) ]; do
      screen | grep -qE -- "$2" && { ok "$1"; return 0; }
      sleep 0.1; t=$((t + 1))
    done
    nok "$1: /$2/ not on screen after $3 s:"; screen | sed 's/^/#   /'; return 1
  }
  expect "live: the first shard's points" "live\.db +8 points: 4 ok, 2 error, 2 crashed, 0 timeout" 30
  SWEEP_NOSPIN=1 "$bin" sweep "$spec" --db live.db -j 2 --shard 2/2 > live2.log 2>&1
  expect "live: the rows the sweep adds show without a key" "live\.db +16 points: 8 ok, 4 error, 4 crashed, 0 timeout" 20
  expect "live: the new rows are in the table" "^ 16 +ok +2 +spin +2 " 5
  "${T[@]}" send-keys -t main q
else
  echo "ok - # SKIP tmux not found: no live update case"
fi
echo "1..$((passes + fails))"
[ "$fails" -eq 0 ]
