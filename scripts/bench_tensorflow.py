#!/usr/bin/env python3
"""Inference images/s of a keras.applications model on TensorFlow-CPU, timed like
`finetune bench`: one warm-up batch, then the median of N batches. Last line: `images/s: X`.

    python3 scripts/bench_tensorflow.py MODEL BATCH SIZE ITERATIONS
"""
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

BUILDERS = {
    "resnet50": keras.applications.ResNet50,
    "vgg19": keras.applications.VGG19,
    "inception_v3": keras.applications.InceptionV3,
    "xception": keras.applications.Xception,
}

name, batch, size, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model = BUILDERS[name](weights=None, include_top=True, input_shape=(size, size, 3))
x = tf.constant(np.random.default_rng(2).uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
forward = tf.function(lambda t: model(t, training=False))
forward(x).numpy()
times = []
for _ in range(iterations):
    start = time.perf_counter()
    forward(x).numpy()
    times.append(time.perf_counter() - start)
median = sorted(times)[len(times) // 2]
print(f"{name} {size}x{size} batch {batch}: median {median:.3f} s per batch over {iterations} (TensorFlow {tf.__version__})")
print(f"images/s: {batch / median:.2f}")
