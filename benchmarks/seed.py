"""The seed's predict path, reproduced for comparison (not used by the service).

Per request it read the image with scikit-image, resized it to 28x28 ignoring
the aspect ratio, converted RGB to grey, binarised it with Sauvola, rebuilt
the Keras MLP and loaded its weights from disk, then predicted.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def create_model():
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input((784,)),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def load_image(data: bytes) -> np.ndarray:
    from skimage import color, transform
    from skimage import io as skio
    from skimage.filters import threshold_sauvola

    img = skio.imread(io.BytesIO(data))
    img = transform.resize(img, (28, 28))
    if img.ndim == 3:
        img = color.rgb2gray(img[..., :3])
    binary = img > threshold_sauvola(img)
    return binary.reshape(1, 784).astype(np.float32)


def predict(data: bytes, weights: Path) -> int:
    model = create_model()
    model.load_weights(weights)
    return int(np.argmax(model.predict(load_image(data), verbose=0)))


def make_weights(path: Path, x_train: np.ndarray, y_train: np.ndarray) -> Path:
    """A seed model trained briefly: its weights are what each request reloads."""
    model = create_model()
    model.fit(x_train[:10000].reshape(-1, 784) / 255.0, y_train[:10000], epochs=1, verbose=0)
    model.save_weights(path)
    return path
