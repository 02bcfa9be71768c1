#!/usr/bin/env bash
# ResNet50 from scratch on all ten Fashion-MNIST classes (60,000 training images), through the public
# finetune CLI: 5% of the training images hold out for validation (none with VAL_SPLIT=0), the test set's
# 10,000 images are only used once, to evaluate the final weights. Writes runs/fashion-mnist/all-classes-seedN/
# results.json (all-classes-no-hold-out-seedN with VAL_SPLIT=0; other settings name their own folders).
# The 28×28 images are scaled to 64×64: ResNet50's ImageNet stem divides its input by four before the
# first residual block, and at 32×32 that leaves 8×8 maps (docs/experiments.md: 32, 48 and 64 compared).
# Usage: Examples/fashion-mnist/all-classes.sh   (SIZE=64 EPOCHS=7 SEED=0 VAL_SPLIT=0.05 by default, and the recipe
#        of the table in Examples/fashion-mnist/README.md: OPTIMIZER=sgd LR=0.05 MOMENTUM=0.9 WEIGHT_DECAY=5e-3
#        CLIP_NORM=2. VAL_SPLIT=0 trains on all 60,000 images, with no validation figures during training; LR is the
#        optimizer's peak rate; OPTIMIZER is one of finetune's --optimizer values, and any but sgd starts from
#        LR=1e-3 and its own settings; WEIGHT_DECAY, MOMENTUM and CLIP_NORM set --weight-decay, --momentum and
#        --clip-norm, and set empty (CLIP_NORM=) they leave the flag off)
source "$(dirname "$0")/common.sh"
seed=${SEED:-0}
# Runs on all 60,000 images, at another rate or with other optimizer settings get their own folders, so all
# kinds of run can sit side by side.
held=${VAL_SPLIT:-0.05} optimizer=${OPTIMIZER:-sgd}
# SGD from scratch needs its first gradients clipped (docs/experiments.md); the other optimizers start from Adam's rate.
if [ "$optimizer" = sgd ]; then recipe=(0.05 5e-3 0.9 2); else recipe=(1e-3 "" "" ""); fi
# Unset takes the recipe's value, set empty leaves the flag off.
rate=${LR:-${recipe[0]}} decay=${WEIGHT_DECAY-${recipe[1]}} momentum=${MOMENTUM-${recipe[2]}} clip=${CLIP_NORM-${recipe[3]}}
tag() { [ "$2" = "$3" ] || printf '%s%s-' "$1" "${2:-none}"; }  # prefix value default: "prefixvalue-" unless the default
out=$work/all-classes-$([ "$held" = 0 ] && echo "no-hold-out-")$(tag "" "$optimizer" sgd)$(tag lr "$rate" "${recipe[0]}")$(tag wd "$decay" "${recipe[1]}")$(tag m "$momentum" "${recipe[2]}")$(tag clip "$clip" "${recipe[3]}")seed$seed
convert train "" "" "$work/all-train"
convert t10k "" "" "$work/all-t10k"
# BatchNorm learns its statistics (--weights none); the rate decays along a cosine; flips and small zooms.
# A run that was stopped or killed continues from its saved state; the training time is the sum of its epochs'.
if [ -f "$out/resume.h5" ]; then
  $finetune train --resume "$out"
else
  $finetune --base resnet50 --data "$work/all-train" --weights none --image-size "${SIZE:-64}" --schedule "all:${EPOCHS:-7}@$rate" \
    --optimizer "$optimizer" ${decay:+--weight-decay "$decay"} ${momentum:+--momentum "$momentum"} ${clip:+--clip-norm "$clip"} --lr-schedule cosine --batch-size 128 --flip --zoom 0.1 --val-split "$held" --seed "$seed" --output "$out" --overwrite
fi
$finetune evaluate --model "$out/last.h5" --data "$work/all-t10k" --json "$out/test-scores.json" > "$out/evaluate.log"
# Trained on flipped images too, the model is also scored with each test image averaged with its mirror image.
$finetune evaluate --model "$out/last.h5" --data "$work/all-t10k" --tta --json "$out/test-scores-tta.json" > "$out/evaluate-tta.log"
head -1 "$out/evaluate.log" "$out/evaluate-tta.log"
python3 - "$out" "${SIZE:-64}" "${EPOCHS:-7}" "$seed" "$held" "$rate" "$optimizer" "$decay" "$momentum" "$clip" <<'PY'
import glob, json, os, sys
out, size, epochs, seed, held, rate, optimizer = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                                                  float(sys.argv[5]), float(sys.argv[6]), sys.argv[7])
# The optimizer's own settings unless given (Keras' defaults: weight decay 0.004 for AdamW, none for the others;
# no momentum; no clipping).
decay = float(sys.argv[8]) if sys.argv[8] else (0.004 if optimizer == "adamw" else 0.0)
momentum, clip = float(sys.argv[9] or 0), float(sys.argv[10]) if sys.argv[10] else None
scores, tta = json.load(open(f"{out}/test-scores.json")), json.load(open(f"{out}/test-scores-tta.json"))
result = {"accuracy": scores["accuracy"], "macro_f1": scores["macroF1"], "accuracy_tta": tta["accuracy"],
          "macro_f1_tta": tta["macroF1"],
          "train_minutes": sum(epoch["seconds"] for epoch in json.load(open(f"{out}/history.json"))) / 60,
          "test_images": 10000, "image_size": size, "epochs": epochs, "validation_split": held, "learning_rate": rate, "optimizer": optimizer,
          "weight_decay": decay, "momentum": momentum, "clip_norm": clip, "seed": seed, "report": f"{out}/report.html"}
json.dump(result, open(f"{out}/results.json", "w"), indent=1)
print(f"ResNet50 from scratch on all ten classes at {size}x{size}, {epochs} epochs, seed {seed}: test accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f} "
      f"({result['accuracy_tta']:.4f} and {result['macro_f1_tta']:.4f} averaged with mirror images), trained in {result['train_minutes']:.1f} minutes")

# Every seed run so far with the same size, epochs, hold-out, rate and optimizer settings, summarised as mean ± half-range in all-classes.md.
runs = [r for r in (json.load(open(p)) for p in sorted(glob.glob(f"{os.path.dirname(out)}/all-classes-*seed*/results.json")))
        if (r["image_size"], r["epochs"], r.get("validation_split", 0.05), r.get("learning_rate", 1e-3), r.get("optimizer", "adam"),
            r.get("weight_decay", 0.004 if r.get("optimizer") == "adamw" else 0.0), r.get("momentum", 0.0), r.get("clip_norm"))
        == (size, epochs, held, rate, optimizer, decay, momentum, clip)]
def spread(key, digits=4):
    values = [r[key] for r in runs]
    return f"{sum(values) / len(values):.{digits}f} ± {(max(values) - min(values)) / 2:.{digits}f}"
seeds = ", ".join(str(r["seed"]) for r in runs)
trained_on = f"{round(60000 * (1 - held))} training images"
settings = "".join(f", {name} {value:g}" for name, value in [("momentum", momentum), ("weight decay", decay),
                                                               ("gradients clipped to norm", clip)] if value)
table = [f"ResNet50 from scratch on all ten classes at {size}x{size}, {epochs} epochs, {trained_on}, {optimizer} at {rate:g}{settings}; seeds {seeds} (mean ± half-range)", "",
         "| scoring | test accuracy | macro-F1 |", "|---|---|---|",
         f"| plain | {spread('accuracy')} | {spread('macro_f1')} |",
         f"| each image averaged with its mirror image (--tta) | {spread('accuracy_tta')} | {spread('macro_f1_tta')} |", "",
         f"training time {spread('train_minutes', 1)} minutes"]
open(f"{os.path.dirname(out)}/all-classes.md", "w").write("\n".join(table) + "\n")
print("\n".join(table))
PY
