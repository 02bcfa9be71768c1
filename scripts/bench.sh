#!/usr/bin/env bash
# Speed of the four models next to TensorFlow-CPU, ONNX Runtime, OpenVINO and PyTorch, in the same run, as ratios.
#   scripts/bench.sh [--quick] [--iterations N] [--rounds R] [--head] [--our-export] [--emulated-bf16] [MODEL...]
# Per model: inference at batch 32 and batch 1 (ours / TensorFlow / ONNX Runtime and OpenVINO on Keras' ONNX export
# via tf2onnx), one training step of the whole network at batch 32 (ours / TensorFlow); for ResNet50 also PyTorch
# (channels-last, float32 and bfloat16 autocast). Each figure is images/s, the median of N timed runs (batch 1:
# 4N) after a warm-up; --rounds repeats the whole sequence, interleaved, and takes the median of the rounds.
# Ratio = ours / theirs (above 1: ours is faster). bf16 columns say n/a, or "emulated", on a CPU without native
# BF16 (avx512_bf16); --emulated-bf16 times PyTorch's emulated bf16 anyway (minutes per batch). --quick: 2 iterations, ResNet50 unless models are named.
# --head adds the 5-epoch head-only phase on 256 images (ours: cached features; Keras: frozen-base fit).
# --our-export also makes a checkpoint of each model, exports it with `finetune export`, and times ONNX Runtime on
# it beside Keras' export of the same checkpoint (with the largest difference of their probabilities).
# Needs scripts/install-deps' packages plus tf2onnx and openvino: python3 -m pip install --no-deps tf2onnx; python3
# -m pip install openvino (--no-deps keeps the protobuf that TensorFlow and onnx use).
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=5
rounds=1
head=false
our_export=false
quick=false
torch_args=()
models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true; iterations=2; shift ;;
    --iterations) iterations="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --head) head=true; shift ;;
    --our-export) our_export=true; shift ;;
    --emulated-bf16) torch_args=(--emulated-bf16); shift ;;
    *) models+=("$1"); shift ;;
  esac
done
if [ ${#models[@]} -eq 0 ]; then
  if $quick; then models=(resnet50); else models=(resnet50 vgg19 inception_v3 xception); fi
fi
python3 -c "import tf2onnx" 2>/dev/null || { echo "bench.sh needs tf2onnx: python3 -m pip install --no-deps tf2onnx" >&2; exit 1; }
swift build -c release --product finetune >/dev/null
finetune=.build/release/finetune
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results="$work/results"
: >"$results"

# Appends "MODEL ENGINE WHAT BATCH VALUE..." from the `images/s:` line of a `finetune bench`-style output.
record() {
  local model="$1" engine="$2" what="$3" batch="$4" output="$5"
  echo "$model $engine $what $batch $(awk '/^images\/s:/ {print $2}' <<<"$output")" >>"$results"
}

for round in $(seq "$rounds"); do
  for model in "${models[@]}"; do
    case "$model" in resnet50|vgg19) size=224 ;; *) size=299 ;; esac
    echo "round $round: $model" >&2
    onnx_args=()
    if $our_export && [ "$round" -eq 1 ]; then
      python3 Tests/fixtures/onnx_parity.py dataset "$work/data" >/dev/null
      $finetune --base "$model" --weights none --data "$work/data" --image-size "$size" \
        --schedule head:1@1e-3 --output "$work/run-$model" >/dev/null
      $finetune export --model "$work/run-$model/best.h5" --preprocessing exclude --output "$work/$model.onnx" >/dev/null
      onnx_args=("$work/run-$model/best.h5" "$work/$model.onnx")
    fi
    for batch in 32 1; do
      n=$iterations; [ "$batch" -eq 1 ] && n=$((4 * iterations))
      record "$model" ours infer "$batch" "$($finetune bench --base "$model" --mode infer --batch-size "$batch" --image-size "$size" --iterations "$n")"
      record "$model" tf infer "$batch" "$(python3 scripts/bench_tensorflow.py "$model" "$batch" "$size" "$n" infer 2>/dev/null)"
    done
    record "$model" ours train 32 "$($finetune bench --base "$model" --mode train --batch-size 32 --image-size "$size" --iterations "$iterations")"
    record "$model" tf train 32 "$(python3 scripts/bench_tensorflow.py "$model" 32 "$size" "$iterations" train 2>/dev/null)"
    if $head; then
      record "$model" ours head 32 "$($finetune bench --base "$model" --mode head --batch-size 32 --image-size "$size" --images 256)"
      record "$model" tf head 32 "$(python3 scripts/bench_tensorflow.py "$model" 32 "$size" 1 head 256 2>/dev/null)"
    fi
    # A failed run (VGG19's was killed for memory once) leaves n/a where it gave no figure; the figures it gave count.
    status=0
    python3 scripts/bench_onnx.py "$model" "$size" "$iterations" "$work" "${onnx_args[@]}" >"$work/onnx.out" 2>/dev/null || status=$?
    grep -v '^result' "$work/onnx.out" >&2 || true
    awk -v m="$model" '/^result/ {$1 = m " " $2 " infer"; $2 = ""; print}' "$work/onnx.out" >>"$results"
    if [ "$status" -ne 0 ]; then
      for engine in ort openvino-f32 openvino-bf16; do
        for batch in 32 1; do echo "$model $engine infer $batch n/a: failed (exit $status)" >>"$results"; done
      done
    fi
    if [ "$model" = resnet50 ]; then
      python3 scripts/bench_torch.py "$size" "$iterations" "${torch_args[@]}" 2>/dev/null | awk -v m="$model" '/^result/ {$1 = m; print}' >>"$results"
    fi
  done
done

native_bf16=$(grep -qw avx512_bf16 /proc/cpuinfo && echo yes || echo no)
python3 - "$results" "$native_bf16" <<'EOF'
import collections
import statistics
import sys

figures = collections.defaultdict(list)
notes = {}
for line in open(sys.argv[1]):
    model, engine, what, batch, *rest = line.split()
    key = (model, engine, what, int(batch))
    if rest and rest[0] == "n/a:":
        notes[key] = " ".join(rest)
    elif rest:
        figures[key].append(float(rest[0]))
        if len(rest) > 1:
            notes[key] = rest[1]
columns = [("tf", "TensorFlow"), ("ort", "ONNX Runtime"), ("ort-ours", "ORT, our export"),
           ("openvino-f32", "OpenVINO f32"), ("openvino-bf16", "OpenVINO bf16"),
           ("torch-f32", "PyTorch f32"), ("torch-bf16", "PyTorch bf16 autocast")]
models = list(dict.fromkeys(key[0] for key in figures))
rows = [(what, batch) for what, batch in (("infer", 32), ("infer", 1), ("train", 32), ("head", 32))
        if any((m, "ours", what, batch) in figures for m in models)]
used = [(engine, title) for engine, title in columns
        if any(key[1] == engine for key in list(figures) + list(notes))]
print("Images/s, median; (ratio) = ours / theirs, above 1: ours is faster.")
if sys.argv[2] == "no":
    print("ours bf16: n/a: no BF16 on this CPU (finetune runs float32)")
print("| model | what | ours | " + " | ".join(title for _, title in used) + " |")
print("|---|---|---|" + "---|" * len(used))
for model in models:
    for what, batch in rows:
        ours = figures.get((model, "ours", what, batch))
        if not ours:
            continue
        ours = statistics.median(ours)
        cells = []
        for engine, _ in used:
            key = (model, engine, what, batch)
            if key in figures:
                theirs = statistics.median(figures[key])
                note = f" {notes[key]}" if key in notes else ""
                cells.append(f"{theirs:.2f} ({ours / theirs:.2f}){note}")
            else:
                cells.append(notes.get(key, "-"))
        label = {"infer": f"inference b{batch}", "train": "training step b32", "head": "5-epoch head phase"}[what]
        print(f"| {model} | {label} | {ours:.2f} | " + " | ".join(cells) + " |")
EOF
