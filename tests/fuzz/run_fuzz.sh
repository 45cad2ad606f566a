#!/bin/sh
# run_fuzz.sh TARGET CORPUS SECONDS [WORKDIR]
# SECONDS = short: $FUZZ_TEST_SECONDS (default 5), for `make test`.
# SECONDS = 0: replays every file of the seed corpus CORPUS once (fails on
# any crash, sanitizer report, leak or failed check). Otherwise fuzzes for
# SECONDS from CORPUS; new inputs go to WORKDIR (a scratch folder, removed
# afterwards, when none is given), never into the seed corpus. Crash
# reproducers are saved as WORKDIR/../artifacts/<target>-crash-<sha1>, or
# in the build folder's fuzz-artifacts/ for scratch runs.
set -eu
exe=$1 corpus=$2 secs=$3 work=${4:-}
name=$(basename "$exe")
[ "$secs" = short ] && secs=${FUZZ_TEST_SECONDS:-5}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# at most 1 GB resident and 10 s per input: more is a finding
# libFuzzer's own exit code for a finding is 77, which meson reads as a
# skipped test: make every finding a failure.
opts="-rss_limit_mb=1024 -timeout=10 -error_exitcode=1 -timeout_exitcode=1"
[ -d "$corpus" ] || { echo "run_fuzz: no corpus folder $corpus" >&2; exit 1; }
if [ "$secs" = 0 ]; then
  n=$(ls "$corpus" | wc -l)
  [ "$n" -gt 0 ] || { echo "run_fuzz: $corpus is empty" >&2; exit 1; }
  echo "run_fuzz: replaying $n inputs of $corpus"
  exec "$exe" $opts "$corpus"/*
fi
if [ -z "$work" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/nmlab-fuzz-$name.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  art="$(dirname "$(dirname "$(dirname "$exe")")")/fuzz-artifacts"
else
  mkdir -p "$work"
  art="$(dirname "$work")/artifacts"
fi
mkdir -p "$art"
"$exe" $opts -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art/$name-" \
  "$work" "$corpus"
