#!/bin/sh
# Prints one closing line over both test runs, from meson's JSON test logs:
# "tests: N passed, N failed". Exits non-zero if any test failed.
pass=0; fail=0
for dir in "$@"; do
  log="$dir/meson-logs/testlog.json"
  [ -f "$log" ] || continue
  p=$(grep -c '"result": "OK"' "$log")
  s=$(grep -c '"result": "SKIP"' "$log")
  t=$(grep -c '"result":' "$log")
  pass=$((pass + p)); fail=$((fail + t - p - s))
done
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
