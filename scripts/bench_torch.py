#!/usr/bin/env python3
"""The PyTorch side of scripts/bench.sh: torchvision's ResNet50 in channels-last layout, 2 threads, float32
and bfloat16 autocast (`torch.autocast("cpu", dtype=torch.bfloat16)`), timed like `finetune bench`.

    python3 scripts/bench_torch.py SIZE ITERATIONS [--emulated-bf16]

Inference at batches 32 and 1, one training step (every layer, BatchNorm in training mode, SGD) at batch 32;
each after one warm-up run, median of ITERATIONS (batch 1: of 4×ITERATIONS). Prints `result ENGINE WHAT
BATCH IMAGES_PER_S` lines. Without native BF16 (avx512_bf16) the bf16 figures are `n/a`: PyTorch then emulates
bf16, measured at about 1 minute per inference batch of 32 on a 2-core AVX2 machine, far from a bounded run;
--emulated-bf16 times it anyway and marks the figures `emulated`.
"""
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402
import torchvision  # noqa: E402

size, iterations = int(sys.argv[1]), int(sys.argv[2])
emulate = "--emulated-bf16" in sys.argv[3:]
torch.set_num_threads(2)
torch.manual_seed(2)
native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
print(f"resnet50: torch {torch.__version__}, native bf16: {native}")


def median_seconds(run, batch):
    run()
    times = []
    for _ in range(iterations if batch > 1 else 4 * iterations):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


for precision in ("f32", "bf16"):
    if precision == "bf16" and not native and not emulate:
        for what, batch in (("infer", 32), ("infer", 1), ("train", 32)):
            print(f"result torch-bf16 {what} {batch} n/a: no BF16 on this CPU")
        break
    model = torchvision.models.resnet50(weights=None).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    note = "" if precision == "f32" or native else " emulated"

    def infer(x):
        with torch.no_grad(), autocast:
            model(x)

    def train(x, y):
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    model.eval()
    for batch in (32, 1):
        x = torch.rand(batch, 3, size, size).to(memory_format=torch.channels_last)
        print(f"result torch-{precision} infer {batch} {batch / median_seconds(lambda: infer(x), batch):.2f}{note}")
    model.train()
    x = torch.rand(32, 3, size, size).to(memory_format=torch.channels_last)
    y = torch.arange(32) % 1000
    print(f"result torch-{precision} train 32 {32 / median_seconds(lambda: train(x, y), 32):.2f}{note}")
