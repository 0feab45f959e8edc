"""Training-time augmentation that mimics what is left of real uploads after
preprocessing: slight rotation and shear (photos), residual scale and shift
(box fitting and centring), stroke width (pens), blur (low-resolution scans).
Imports TensorFlow; used only by training.
"""

from __future__ import annotations

import math

import tensorflow as tf

MAX_ROTATION_DEG = 12.0
MAX_SHEAR = 0.15
SCALE_RANGE = (0.88, 1.12)
MAX_SHIFT_PX = 2.0
LOW_RES_SHARE = 0.15


def _affine(batch: int, seed: tf.Tensor) -> tf.Tensor:
    """Per-image inverse affine maps (output -> input pixel), shape (batch, 8)."""
    seeds = tf.random.experimental.stateless_split(seed, 5)
    angle = tf.random.stateless_uniform([batch], seeds[0], -1.0, 1.0) * (MAX_ROTATION_DEG * math.pi / 180)
    shear = tf.random.stateless_uniform([batch], seeds[1], -MAX_SHEAR, MAX_SHEAR)
    scale = tf.random.stateless_uniform([batch], seeds[2], *SCALE_RANGE)
    shift = tf.random.stateless_uniform([batch, 2], seeds[3], -MAX_SHIFT_PX, MAX_SHIFT_PX)
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # inverse of rotate+shear+scale: rows of the 2x2 matrix applied to (x, y)
    a0, a1 = cos, sin + shear * cos
    b0, b1 = -sin, cos - shear * sin
    centre = 13.5
    cx, cy = centre + shift[:, 0], centre + shift[:, 1]
    a2 = centre - a0 * cx - a1 * cy
    b2 = centre - b0 * cx - b1 * cy
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _shifted(images: tf.Tensor) -> list[tf.Tensor]:
    """The 3x3 neighbourhood of every pixel as 9 shifted copies (zero padded).

    Elementwise ops on shifted copies are much faster on CPU than TF's
    stride-1 max_pool2d or a single-channel conv2d (docs/decisions.md).
    """
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    return [padded[:, dy : dy + 28, dx : dx + 28, :] for dy in range(3) for dx in range(3)]


def _stroke(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Blend each image part-way towards its dilation or erosion."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    around = _shifted(images)
    dilated = tf.reduce_max(tf.stack(around), axis=0)
    eroded = tf.reduce_min(tf.stack(around), axis=0)
    amount = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0], -0.6, 0.8)
    chooser = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1])
    amount = tf.where(chooser < 0.5, tf.zeros_like(amount), amount)
    towards = tf.where(amount > 0, dilated, eroded)
    return images + tf.abs(amount) * (towards - images)


def _blur(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A 3x3 binomial blur on a fifth of the images, renormalised to peak 1."""
    batch = tf.shape(images)[0]
    weights = [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]
    blurred = tf.add_n([w * v for w, v in zip(weights, _shifted(images), strict=True)]) / 16.0
    blurred = blurred / tf.maximum(tf.reduce_max(blurred, axis=[1, 2, 3], keepdims=True), 1e-6)
    use = tf.random.stateless_uniform([batch, 1, 1, 1], seed) < 0.2
    return tf.where(use, blurred, images)


def _low_resolution(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """On a fraction of the images: down to ~8 px across the digit and back up.

    Digits from coarse sources (the UCI set is 8x8 with 17 grey levels, old
    scans, thumbnails) reach the model as smooth blobs after preprocessing;
    MNIST has none of those.
    """
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    size = tf.random.stateless_uniform([], seeds[1], 9, 13, dtype=tf.int32)
    small = tf.image.resize(images, tf.stack([size, size]), method="area")
    small = tf.round(small * 16.0) / 16.0  # 17 grey levels, like the UCI counts
    blobs = tf.image.resize(small, [28, 28], method="bicubic")
    blobs = tf.clip_by_value((blobs - 0.3) / 0.4, 0.0, 1.0)  # coarse pixels read back as bold strokes
    use = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0]) < LOW_RES_SHARE
    return tf.where(use, blobs, images)


def augment(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """images: (batch, 28, 28, 1) float32 in [0, 1]; seed: shape [2] int."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    images = _stroke(images, seeds[0])
    images = _blur(images, seeds[1])
    images = _low_resolution(images, seeds[3])
    batch = tf.shape(images)[0]
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=_affine(batch, seeds[2]),
        output_shape=tf.constant([28, 28]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return tf.clip_by_value(moved, 0.0, 1.0)
