"""The handwritten digits of scikit-learn, as the images the tiny DiT sees.

``sklearn.datasets.load_digits`` ships 1797 8x8 images with 17 grey levels
(UCI Optical Recognition of Handwritten Digits, CC BY 4.0). The DiT works on
32x32 images so that patch 2 gives 256 tokens; the 8x8 images are upsampled
bilinearly (align-corners) and mapped to ``[-1, 1]``. :func:`downsample` is the
exact inverse direction used to score generated images with a classifier
trained on the original 8x8 digits.
"""

from functools import lru_cache

import numpy as np

#: Side of the images the DiT is trained on.
IMAGE_SIZE = 32
#: Side of the original digits.
SOURCE_SIZE = 8
#: Largest grey level of the original digits.
SOURCE_MAX = 16.0


def _interp_matrix(n_out, n_in):
    """Bilinear (align-corners) interpolation as an ``[n_out, n_in]`` matrix."""
    pos = np.linspace(0.0, n_in - 1.0, n_out)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1.0 - frac
    m[np.arange(n_out), hi] += frac
    return m


@lru_cache(maxsize=1)
def load():
    """Return ``(images, labels)``: float32 ``[N, 1, 32, 32]`` in [-1, 1], int64 ``[N]``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise ImportError("scikit-learn is needed for the digits dataset") from exc
    digits = load_digits()
    small = digits.images.astype(np.float64) / SOURCE_MAX
    up = _interp_matrix(IMAGE_SIZE, SOURCE_SIZE)
    big = np.einsum("ij,njk,lk->nil", up, small, up)
    images = (big * 2.0 - 1.0).astype(np.float32)[:, None]
    return images, digits.target.astype(np.int64)


def load_small():
    """Return ``(features, labels)``: the original digits as float ``[N, 64]`` in [0, 16]."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    return digits.data.astype(np.float64), digits.target.astype(np.int64)


def downsample(images):
    """Map ``[N, 1, 32, 32]`` images in [-1, 1] to ``[N, 64]`` features in [0, 16].

    The least-squares inverse of the bilinear upsampling of :func:`load`, so that
    a real digit goes round trip unchanged (up to float error).
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or images.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"images: expected shape [N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}], "
                         f"got {list(images.shape)!r}")
    pinv = np.linalg.pinv(_interp_matrix(IMAGE_SIZE, SOURCE_SIZE))
    unit = (images[:, 0] + 1.0) / 2.0
    small = np.einsum("ij,njk,lk->nil", pinv, unit, pinv)
    return np.clip(small * SOURCE_MAX, 0.0, SOURCE_MAX).reshape(len(images), -1)
