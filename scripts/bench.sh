#!/usr/bin/env bash
# Inference speed of the four models next to TensorFlow-CPU, in the same run, as a ratio.
#   scripts/bench.sh [ITERATIONS] [MODEL...]
set -euo pipefail
cd "$(dirname "$0")/.."
iterations="${1:-5}"
shift || true
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(resnet50 vgg19 inception_v3 xception)
swift build -c release --product finetune >/dev/null

printf "%-13s %5s %6s %10s %10s %7s\n" model size batch "ours img/s" "TF img/s" ratio
for model in "${models[@]}"; do
  case "$model" in resnet50|vgg19) size=224 ;; *) size=299 ;; esac
  ours=$(.build/release/finetune bench --base "$model" --batch-size 32 --image-size "$size" --iterations "$iterations" | awk '/^images\/s:/ {print $2}')
  tf=$(python3 scripts/bench_tensorflow.py "$model" 32 "$size" "$iterations" 2>/dev/null | awk '/^images\/s:/ {print $2}')
  ratio=$(python3 -c "print(f'{$ours / $tf:.2f}')")
  printf "%-13s %5s %6s %10s %10s %7s\n" "$model" "$size" 32 "$ours" "$tf" "$ratio"
done
