#!/usr/bin/env bash
# Transfer learning on real images, through the public finetune CLI only:
#   1. Fashion-MNIST's IDX files become class folders of PNGs;
#   2. ResNet50 is pretrained from scratch on classes 0–4 (T-shirt/top … Coat) at 32×32 and its base exported
#      in the layout of Keras' published no-top files (cached: later runs reuse it);
#   3. for each seed, three models learn classes 5–9 (Sandal … Ankle boot) from 30 images per class:
#      the pretrained base fine-tuned (head first, then every layer with the base at a tenth of the rate),
#      the same ResNet50 from scratch, and a small CNN from scratch;
#   4. each run's final weights (last.h5: six validation images per class are too few to pick an epoch)
#      are evaluated on all 5,000 test images of classes 5–9; a table and results.json collect accuracy,
#      macro-F1 and training time (mean ± spread over the seeds).
# Usage: Examples/fashion-mnist/walkthrough.sh   (SEEDS="0 1 2" by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product finetune 2>&1 | tail -1
finetune=.build/release/finetune
idx=/usr/share/datasets/fashion-mnist
work=runs/fashion-mnist
pretrained=Examples/fashion-mnist/pretrained/resnet50_fmnist_0-4_notop.h5
seeds="${SEEDS:-0 1 2}"
mkdir -p "$work" "$(dirname "$pretrained")"

convert() {  # split classes per-class output
  [ -d "$4" ] && return
  $finetune data convert-idx --images "$idx/$1-images-idx3-ubyte.gz" --labels "$idx/$1-labels-idx1-ubyte.gz" \
    --names fashion-mnist --classes "$2" ${3:+--per-class $3} --output "$4"
}
convert train 0,1,2,3,4 "" "$work/classes-0-4"
convert train 5,6,7,8,9 30 "$work/few-shot-5-9"
convert t10k 5,6,7,8,9 "" "$work/test-5-9"

if [ ! -f "$pretrained" ]; then
  echo "== pretraining ResNet50 on classes 0-4 (30,000 images, 32x32)"
  $finetune --base resnet50 --data "$work/classes-0-4" --weights none --image-size 32 --schedule all:4@1e-3 \
    --batch-size 128 --val-split 0.05 --seed 0 --output "$work/pretrain"
  $finetune export-base --model "$work/pretrain/best.h5" --output "$pretrained"
fi

run() {  # name seed finetune-flags...
  local name=$1 seed=$2
  shift 2
  local out="$work/runs/$name-seed$seed"
  local start=$(date +%s.%N)
  $finetune --data "$work/few-shot-5-9" --image-size 32 --batch-size 30 --seed "$seed" --output "$out" "$@" > "$out.log"
  local end=$(date +%s.%N)
  $finetune evaluate --model "$out/last.h5" --data "$work/test-5-9" --json "$out/test-scores.json" > "$out.evaluate.log"
  python3 -c "import json,sys; s=json.load(open('$out/test-scores.json')); print(json.dumps({'model': '$name', 'seed': $seed, 'accuracy': s['accuracy'], 'macro_f1': s['macroF1'], 'train_seconds': $end - $start, 'report': '$out/report.html'}))" >> "$work/results.jsonl"
  tail -1 "$work/results.jsonl"
}
mkdir -p "$work/runs"
rm -f "$work/results.jsonl"
for seed in $seeds; do
  run finetuned "$seed" --base resnet50 --weights "$pretrained" --schedule head:10@1e-3,all:15@1e-3 --base-lr-mult 0.1
  run resnet50-scratch "$seed" --base resnet50 --weights none --schedule all:25@1e-3
  run small-cnn "$seed" --base small_cnn --weights none --schedule all:25@3e-3
done

python3 - "$work" <<'PY'
import json, statistics, sys
work = sys.argv[1]
rows = [json.loads(line) for line in open(f"{work}/results.jsonl")]
table = {}
for name in ["finetuned", "resnet50-scratch", "small-cnn"]:
    mine = [r for r in rows if r["model"] == name]
    def stat(key):
        values = [r[key] for r in mine]
        return {"mean": statistics.mean(values), "spread": (max(values) - min(values)) / 2, "values": values}
    table[name] = {"accuracy": stat("accuracy"), "macro_f1": stat("macro_f1"), "train_seconds": stat("train_seconds")}
json.dump({"runs": rows, "summary": table}, open(f"{work}/results.json", "w"), indent=1)
print("\nclasses 5-9 from 30 images per class, tested on 5,000 images (mean ± half-range over seeds)")
print(f"{'model':18} {'accuracy':>16} {'macro-F1':>16} {'train s':>10}")
for name, s in table.items():
    print(f"{name:18} {s['accuracy']['mean']:.4f} ± {s['accuracy']['spread']:.4f} {s['macro_f1']['mean']:.4f} ± {s['macro_f1']['spread']:.4f} {s['train_seconds']['mean']:10.1f}")
print(f"\nresults: {work}/results.json; reports: {work}/runs/*/report.html")
PY
