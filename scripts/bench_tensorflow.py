#!/usr/bin/env python3
"""The TensorFlow-CPU side of scripts/bench.sh, timed like `finetune bench`. Last line: `images/s: X`.

    python3 scripts/bench_tensorflow.py MODEL BATCH SIZE ITERATIONS [infer|train|head] [IMAGES]

infer: a forward pass; train: one training step (every layer trainable, BatchNorm in training mode,
SGD, in a tf.function); head: Keras' frozen-base `fit` for 5 epochs on IMAGES images.
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
mode = sys.argv[5] if len(sys.argv) > 5 else "infer"
rng = np.random.default_rng(2)


def peak_gb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1048576
    return 0.0


def median_seconds(step):
    step()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


if mode == "head":
    images = int(sys.argv[6]) if len(sys.argv) > 6 else 256
    base = BUILDERS[name](weights=None, include_top=False, input_shape=(size, size, 3))
    base.trainable = False
    inputs = keras.Input((size, size, 3))
    features = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(features))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    x = rng.uniform(-1, 1, (images, size, size, 3)).astype("float32")
    y = np.arange(images) % 10
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=5, verbose=0)
    seconds = time.perf_counter() - start
    print(f"{name} {size}x{size} frozen-base fit, 5 epochs over {images} images: {seconds:.2f} s (TensorFlow {tf.__version__})")
    print(f"images/s: {5 * images / seconds:.2f}")
    sys.exit(0)

model = BUILDERS[name](weights=None, include_top=True, input_shape=(size, size, 3))
x = tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
if mode == "train":
    y = tf.constant(np.arange(batch) % 1000)
    optimizer = keras.optimizers.SGD(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    seconds = median_seconds(lambda: train_step().numpy())
    print(f"{name} {size}x{size} training step, batch {batch}: median {seconds:.3f} s over {iterations} (TensorFlow {tf.__version__})")
    print(f"peak memory: {peak_gb():.2f} GB")
else:
    forward = tf.function(lambda t: model(t, training=False))
    seconds = median_seconds(lambda: forward(x).numpy())
    print(f"{name} {size}x{size} inference, batch {batch}: median {seconds:.3f} s over {iterations} (TensorFlow {tf.__version__})")
print(f"images/s: {batch / seconds:.2f}")
