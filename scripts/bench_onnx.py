#!/usr/bin/env python3
"""ONNX Runtime on our export of a checkpoint against ONNX Runtime on Keras' own export of the same model.

    python3 scripts/bench_onnx.py CHECKPOINT.h5 OURS.onnx WORK_DIR [ROUNDS]

Keras loads the checkpoint (a Keras full-model file) and exports it with tf2onnx, the converter Keras 3's
model.export(format="onnx") uses on TensorFlow. Both graphs take the same preprocessed NHWC batch (ours
exported with --preprocessing exclude). Batches 32 and 1 are timed in alternation in one process, with the
same session options; prints the median seconds per batch of each and the ratio (reference time / ours:
above 1 means ours runs faster), and the largest difference between the two graphs' probabilities.
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

checkpoint, ours_path, work = sys.argv[1], sys.argv[2], sys.argv[3]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 10

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

model = keras.saving.load_model(checkpoint, compile=False)
shape = model.inputs[0].shape[1:]
reference_path = os.path.join(work, "keras_tf2onnx.onnx")
spec = (tf.TensorSpec((None,) + tuple(shape), tf.float32, name="input"),)
tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=reference_path)


def session(path):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


sessions = {"ours": session(ours_path), "keras": session(reference_path)}
rng = np.random.default_rng(0)
print(f"model {model.name}, input {tuple(shape)}, onnxruntime {ort.__version__}, tf2onnx {tf2onnx.__version__}")
for batch in (32, 1):
    x = (rng.uniform(0, 255, (batch,) + tuple(shape)) - 120).astype(np.float32)
    outputs = {name: s.run(None, {s.get_inputs()[0].name: x})[0] for name, s in sessions.items()}
    times = {name: [] for name in sessions}
    repeats = 1 if batch == 32 else 20
    for _ in range(rounds):
        for name, s in sessions.items():
            feed = {s.get_inputs()[0].name: x}
            start = time.perf_counter()
            for _ in range(repeats):
                s.run(None, feed)
            times[name].append((time.perf_counter() - start) / repeats)
    ours, keras_time = statistics.median(times["ours"]), statistics.median(times["keras"])
    difference = float(np.abs(outputs["ours"] - outputs["keras"]).max())
    print(f"batch {batch:2d}: ours {ours * 1000:8.1f} ms, Keras/tf2onnx {keras_time * 1000:8.1f} ms, "
          f"speed ratio {keras_time / ours:.3f}, max |difference| {difference:.1e}")
