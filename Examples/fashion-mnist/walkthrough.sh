#!/usr/bin/env bash
# Transfer learning on real images, through the public finetune CLI only:
#   1. Fashion-MNIST's IDX files become class folders of PNGs;
#   2. ResNet50 is pretrained from scratch on classes 0–4 (T-shirt/top … Coat) at 32×32 and its base exported
#      in the layout of Keras' published no-top files (cached: later runs reuse it). BatchNorm keeps its
#      initial identity statistics there (--no-train-bn): statistics of tops and trousers misnormalise
#      shoes and bags, and a base pretrained with them transfers worse (docs/experiments.md);
#   3. for each seed, models learn classes 5–9 (Sandal … Ankle boot) from 30 images per class:
#      the pretrained base fine-tuned (head first, then every layer with the base at a tenth of the rate);
#      the same ResNet50 from scratch as Keras trains it (BatchNorm learning its statistics) and with
#      BatchNorm frozen at identity; the small CNN from scratch, both ways too;
#   4. each run's final weights (last.h5: six validation images per class are too few to pick an epoch)
#      are evaluated on all 5,000 test images of classes 5–9; a table (also as results.md) and
#      results.json collect accuracy, macro-F1 and training time (mean ± half-range over the seeds).
# Usage: Examples/fashion-mnist/walkthrough.sh   (SEEDS="0 1 2" by default)
source "$(dirname "$0")/common.sh"
pretrained=Examples/fashion-mnist/pretrained/resnet50_fmnist_0-4_notop.h5
seeds="${SEEDS:-0 1 2}"
mkdir -p "$(dirname "$pretrained")"

convert train 0,1,2,3,4 "" "$work/classes-0-4"
convert train 5,6,7,8,9 30 "$work/few-shot-5-9"
convert t10k 5,6,7,8,9 "" "$work/test-5-9"

if [ ! -f "$pretrained" ]; then
  echo "== pretraining ResNet50 on classes 0-4 (30,000 images, 32x32)"
  $finetune --base resnet50 --data "$work/classes-0-4" --weights none --image-size 32 --schedule all:4@1e-3 \
    --no-train-bn --base-lr-mult 0.1 --batch-size 128 --val-split 0.05 --seed 0 --output "$work/pretrain" --overwrite
  $finetune export-base --model "$work/pretrain/best.h5" --output "$pretrained"
fi

run() {  # name seed finetune-flags...
  local name=$1 seed=$2
  shift 2
  local out="$work/runs/$name-seed$seed"
  local start=$(date +%s.%N)
  $finetune --data "$work/few-shot-5-9" --image-size 32 --batch-size 30 --seed "$seed" --output "$out" --overwrite "$@" > "$out.log"
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
  run resnet50-scratch-frozen-bn "$seed" --base resnet50 --weights none --schedule all:25@1e-3 --no-train-bn
  run small-cnn "$seed" --base small_cnn --weights none --schedule all:25@3e-3
  run small-cnn-frozen-bn "$seed" --base small_cnn --weights none --schedule all:25@3e-3 --no-train-bn
done

python3 - "$work" <<'PY'
import json, statistics, sys
work = sys.argv[1]
rows = [json.loads(line) for line in open(f"{work}/results.jsonl")]
described = {
    "finetuned": "ResNet50 pretrained on classes 0–4: head 10 epochs, then everything 15 (base at 0.1×)",
    "resnet50-scratch": "ResNet50 from scratch, 25 epochs, BatchNorm learning (Keras' `fit`)",
    "resnet50-scratch-frozen-bn": "ResNet50 from scratch, 25 epochs, BatchNorm frozen at identity (`--no-train-bn`)",
    "small-cnn": "small CNN from scratch, 25 epochs, BatchNorm learning",
    "small-cnn-frozen-bn": "small CNN from scratch, 25 epochs, BatchNorm frozen at identity",
}
table = {}
for name in described:
    mine = [r for r in rows if r["model"] == name]
    def stat(key):
        values = [r[key] for r in mine]
        return {"mean": statistics.mean(values), "spread": (max(values) - min(values)) / 2, "values": values}
    table[name] = {"accuracy": stat("accuracy"), "macro_f1": stat("macro_f1"), "train_seconds": stat("train_seconds")}
json.dump({"runs": rows, "summary": table}, open(f"{work}/results.json", "w"), indent=1)
seeds = len(table["finetuned"]["accuracy"]["values"])
lines = [f"classes 5–9 from 30 images per class, tested on 5,000 images (mean ± half-range over {seeds} seeds)", "",
         "| model | test accuracy | macro-F1 | training time |", "|---|---|---|---|"]
for name, s in table.items():
    lines.append(f"| {described[name]} | {s['accuracy']['mean']:.3f} ± {s['accuracy']['spread']:.3f} "
                 f"| {s['macro_f1']['mean']:.3f} ± {s['macro_f1']['spread']:.3f} | {s['train_seconds']['mean']:.1f} s |")
open(f"{work}/results.md", "w").write("\n".join(lines) + "\n")
print("\n" + "\n".join(lines))
print(f"\nresults: {work}/results.json and results.md; reports: {work}/runs/*/report.html")
PY

echo "== the fine-tuned model (seed ${seeds%% *}) predicts a few test sneakers"
$finetune predict --model "$work/runs/finetuned-seed${seeds%% *}/last.h5" --top-k 2 "$work/test-5-9/Sneaker" \
  --output "$work/sneaker-predictions.csv"
head -6 "$work/sneaker-predictions.csv"
