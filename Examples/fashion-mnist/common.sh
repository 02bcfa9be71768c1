# Shared by the Fashion-MNIST scripts (sourced): build the CLI, name the data and the work folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
swift build -c release --product finetune 2>&1 | tail -1
finetune=.build/release/finetune
idx=/usr/share/datasets/fashion-mnist
work=runs/fashion-mnist
mkdir -p "$work"

convert() {  # split(train|t10k) classes(comma-separated or "") per-class("" for all) output-folder, once
  [ -d "$4" ] && return
  $finetune data convert-idx --images "$idx/$1-images-idx3-ubyte.gz" --labels "$idx/$1-labels-idx1-ubyte.gz" \
    --names fashion-mnist ${2:+--classes $2} ${3:+--per-class $3} --output "$4"
}
