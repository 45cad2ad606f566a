#!/bin/sh
# Prints one closing line over both test runs, from meson's JSON test logs:
# "tests: N passed, N failed". Exits non-zero if any test failed.
# Cases skipped inside a test (Criterion's "# SKIP", nm.test's "SKIP ") are
# named in a second line, so that missing input data is never silent.
pass=0; fail=0; cases=0
for dir in "$@"; do
  log="$dir/meson-logs/testlog.json"
  [ -f "$log" ] || continue
  p=$(grep -c '"result": "OK"' "$log")
  s=$(grep -c '"result": "SKIP"' "$log")
  t=$(grep -c '"result":' "$log")
  pass=$((pass + p)); fail=$((fail + t - p - s))
  txt="$dir/meson-logs/testlog.txt"
  [ -f "$txt" ] && cases=$((cases + $(grep -cE '# SKIP|^SKIP ' "$txt")))
done
echo "tests: $pass passed, $fail failed"
[ "$cases" -eq 0 ] || echo "tests: $cases test cases skipped (see the logs: '# SKIP' / 'SKIP ')"
[ "$fail" -eq 0 ]
