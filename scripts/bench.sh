#!/usr/bin/env bash
# Speed of the four models next to TensorFlow-CPU, in the same run, as a ratio.
#   scripts/bench.sh [--mode infer|train|head] [--iterations N] [MODEL...]
# infer: batch 32 forward passes; train: one training step of the whole network at batch 32;
# head: a 5-epoch head-only phase on 256 images (ours: cached features; Keras: frozen-base fit).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=infer
iterations=5
models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) mode="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[ ${#models[@]} -eq 0 ] && models=(resnet50 vgg19 inception_v3 xception)
swift build -c release --product finetune >/dev/null

printf "%-13s %-6s %5s %10s %10s %7s %10s %10s\n" model mode size "ours img/s" "TF img/s" ratio "ours GB" "TF GB"
for model in "${models[@]}"; do
  case "$model" in resnet50|vgg19) size=224 ;; *) size=299 ;; esac
  ours_out=$(.build/release/finetune bench --base "$model" --mode "$mode" --batch-size 32 --image-size "$size" --iterations "$iterations")
  tf_out=$(python3 scripts/bench_tensorflow.py "$model" 32 "$size" "$iterations" "$mode" 256 2>/dev/null)
  ours=$(awk '/^images\/s:/ {print $2}' <<<"$ours_out")
  tf=$(awk '/^images\/s:/ {print $2}' <<<"$tf_out")
  ours_gb=$(awk '/^peak memory:/ {print $3}' <<<"$ours_out")
  tf_gb=$(awk '/^peak memory:/ {print $3}' <<<"$tf_out")
  ratio=$(python3 -c "print(f'{$ours / $tf:.2f}')")
  printf "%-13s %-6s %5s %10s %10s %7s %10s %10s\n" "$model" "$mode" "$size" "$ours" "$tf" "$ratio" "${ours_gb:--}" "${tf_gb:--}"
done
