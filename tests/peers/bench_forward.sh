#!/bin/sh
# Peer benchmark of the forward (`make bench-peers`): PyTorch
# (tests/peers/bench_forward.py) and nmlab (tests/peers/bench_forward.lua)
# alternating per (model, batch), ROUNDS rounds, 2 threads each, on the ONNX
# files in DIR (written by tests/peers/torch_onnx_export.py); then the table
# (tests/peers/bench_table.py). The raw lines go to DIR/forward.log.
# Usage: tests/peers/bench_forward.sh NMLAB DIR [ROUNDS [MODELS [BATCHES]]]
set -eu
nmlab=$1 dir=$2 rounds=${3:-3} models=${4:-resnet18 mobilenet_v2} batches=${5:-1 32}
here=$(dirname "$0")
log=$dir/forward.log
: > "$log"
date -u '+bench-peers forward: %Y-%m-%d %H:%M:%S UTC' | tee -a "$log"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
r=1
while [ "$r" -le "$rounds" ]; do
  for m in $models; do
    for b in $batches; do
      /usr/bin/python3 "$here/bench_forward.py" "$dir" "$m" "$b" > "$dir/line"
      cat "$dir/line"; cat "$dir/line" >> "$log"
      OMP_NUM_THREADS=2 "$nmlab" run "$here/bench_forward.lua" "$dir" "$m" "$b" > "$dir/line"
      cat "$dir/line"; cat "$dir/line" >> "$log"
    done
  done
  r=$((r + 1))
done
rm -f "$dir/line"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
echo
/usr/bin/python3 "$here/bench_table.py" < "$log"
