#!/usr/bin/env python3
"""The walk-through's from-scratch baseline in Keras itself, as a check on our figures: ResNet50
(weights=None) with the same head on the same training files (a finetune run's split.json), Adam,
batch 30, 25 epochs, BatchNorm learning as model.fit trains it; then accuracy on the test folder.

    python3 Examples/fashion-mnist/keras_scratch.py SPLIT_JSON TEST_FOLDER [SEED]
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from PIL import Image  # noqa: E402

split_path, test_root = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
keras.utils.set_random_seed(seed)
split = json.load(open(split_path))
classes = sorted({os.path.basename(os.path.dirname(p)) for p in split["train"]})


def load(paths):
    images = [np.asarray(Image.open(p).convert("RGB").resize((32, 32), Image.BILINEAR), dtype=np.float32) for p in paths]
    labels = [classes.index(os.path.basename(os.path.dirname(p))) for p in paths]
    return keras.applications.resnet50.preprocess_input(np.stack(images)), np.array(labels)


x, y = load(split["train"])
test_paths = [os.path.join(test_root, c, f) for c in classes for f in sorted(os.listdir(os.path.join(test_root, c)))]
tx, ty = load(test_paths)
base = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
outputs = keras.layers.Dense(len(classes), activation="softmax")(
    keras.layers.Dropout(0.2)(keras.layers.GlobalAveragePooling2D()(base.output)))
model = keras.Model(base.input, outputs)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=30, epochs=25, verbose=0)
_, accuracy = model.evaluate(tx, ty, batch_size=250, verbose=0)
print(json.dumps({"keras_resnet50_scratch_seed": seed, "train_accuracy": history.history["accuracy"][-1],
                  "test_accuracy": accuracy, "test_images": len(ty)}))
