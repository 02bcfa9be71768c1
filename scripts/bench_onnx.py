#!/usr/bin/env python3
"""The ONNX side of scripts/bench.sh: ONNX Runtime and OpenVINO on Keras' own ONNX export of a model.

    python3 scripts/bench_onnx.py MODEL SIZE ITERATIONS WORK_DIR [CHECKPOINT.h5 OURS.onnx]

Keras builds MODEL (random weights, with its top, as scripts/bench_tensorflow.py does) or, given a
checkpoint, loads it, and exports it with tf2onnx, the converter behind Keras 3's
model.export(format="onnx") on TensorFlow. Given OURS.onnx (our `finetune export --preprocessing exclude`
of that checkpoint), ONNX Runtime times it too and the largest difference between the two graphs'
probabilities is printed. Timed, each after one warm-up run, median of ITERATIONS (batch 1: of 4×ITERATIONS):
ONNX Runtime float32, OpenVINO float32 and bfloat16 (latency hint, 2 threads), at batches 32 and 1.
Prints `result ENGINE BATCH IMAGES_PER_S` lines, or `result ENGINE BATCH n/a: REASON`.
"""
import os
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

name, size, iterations, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
checkpoint, ours_path = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else (None, None)
THREADS = 2

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

BUILDERS = {
    "resnet50": keras.applications.ResNet50,
    "vgg19": keras.applications.VGG19,
    "inception_v3": keras.applications.InceptionV3,
    "xception": keras.applications.Xception,
}
if checkpoint:
    model = keras.saving.load_model(checkpoint, compile=False)
else:
    model = BUILDERS[name](weights=None, include_top=True, input_shape=(size, size, 3))
shape = tuple(model.inputs[0].shape[1:])
reference_path = os.path.join(work, f"{name}_keras_tf2onnx.onnx")
spec = (tf.TensorSpec((None,) + shape, tf.float32, name="input"),)
tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=reference_path)
del model
print(f"{name}: onnxruntime {ort.__version__}, tf2onnx {tf2onnx.__version__}")


def native_bf16():
    with open("/proc/cpuinfo") as f:
        return any("avx512_bf16" in line.split() for line in f if line.startswith("flags"))


def median_seconds(run, batch):
    run()
    repeats = iterations if batch > 1 else 4 * iterations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(engine, batch, seconds):
    print(f"result {engine} {batch} {batch / seconds:.2f}")


def onnxruntime_runner(path):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = THREADS
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {feed_name: x})[0]


def openvino_runner(path, precision, batch):
    import openvino as ov

    core = ov.Core()
    network = core.read_model(path)
    network.reshape([batch, *shape])
    compiled = core.compile_model(network, "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": THREADS, "INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()
    return lambda x: request.infer([x])


rng = np.random.default_rng(0)
runners = {"ort": onnxruntime_runner(reference_path)}
if ours_path:
    runners["ort-ours"] = onnxruntime_runner(ours_path)
for batch in (32, 1):
    x = (rng.uniform(0, 255, (batch,) + shape) - 120).astype(np.float32)
    for engine, run in runners.items():
        report(engine, batch, median_seconds(lambda: run(x), batch))
    if ours_path:
        difference = float(np.abs(runners["ort"](x) - runners["ort-ours"](x)).max())
        print(f"batch {batch}: max |ours - Keras export| {difference:.1e}")
    try:
        import openvino  # noqa: F401
    except ImportError:
        for engine in ("openvino-f32", "openvino-bf16"):
            print(f"result {engine} {batch} n/a: openvino not installed")
        continue
    report("openvino-f32", batch, median_seconds(lambda r=openvino_runner(reference_path, "f32", batch): r(x), batch))
    if native_bf16():
        report("openvino-bf16", batch, median_seconds(lambda r=openvino_runner(reference_path, "bf16", batch): r(x), batch))
    else:
        # OpenVINO would silently run float32 here; that is not a bf16 figure.
        print(f"result openvino-bf16 {batch} n/a: no BF16 on this CPU")
