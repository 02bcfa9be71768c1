#!/usr/bin/env bash
# ONNX Runtime speed of our ResNet50 export against Keras' own export (tf2onnx) of the same model, in one run.
#   scripts/bench-onnx.sh [ROUNDS]
# Needs tf2onnx besides scripts/install-deps' packages: python3 -m pip install --no-deps tf2onnx
# (--no-deps keeps the protobuf that TensorFlow and onnx use).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-10}"
python3 -c "import tf2onnx" 2>/dev/null || { echo "bench-onnx needs tf2onnx: python3 -m pip install --no-deps tf2onnx" >&2; exit 1; }
swift build -c release --product finetune >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 Tests/fixtures/onnx_parity.py dataset "$work/data"
.build/release/finetune --base resnet50 --weights none --data "$work/data" --image-size 224 \
  --schedule head:1@1e-3 --output "$work/run" >/dev/null
.build/release/finetune export --model "$work/run/best.h5" --preprocessing exclude --output "$work/ours.onnx"
python3 scripts/bench_onnx.py "$work/run/best.h5" "$work/ours.onnx" "$work" "$rounds"
