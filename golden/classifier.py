"""An independent digit classifier that scores generated images.

A one-hidden-layer MLP trained in NumPy on the *real* 8x8 digits (never on
generated images), full batch, Adam, fixed seed: about two seconds. It sees a
generated 32x32 image through :func:`exdisc.golden.digits.downsample`. Its held-out
accuracy on real digits is reported with every result, as the ceiling of the
class accuracy it can measure.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import digits


@dataclass(frozen=True)
class Classifier:
    """Members
    -------
    w1, b1, w2, b2 : ndarray
        The MLP (``64 -> hidden -> 10``, ReLU) on features scaled to [0, 1].
    test_accuracy : float
        Accuracy on the held-out fifth of the real digits.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    test_accuracy: float

    def logits(self, features):
        h = np.maximum(np.asarray(features, np.float64) / digits.SOURCE_MAX @ self.w1 + self.b1, 0)
        return h @ self.w2 + self.b2

    def predict(self, features):
        return np.argmax(self.logits(features), axis=1)

    def predict_images(self, images):
        """Class of each generated ``[N, 1, 32, 32]`` image in [-1, 1]."""
        return self.predict(digits.downsample(images))

    def accuracy(self, images, labels):
        return float(np.mean(self.predict_images(images) == np.asarray(labels)))


@lru_cache(maxsize=4)
def train(seed=0, hidden=128, iterations=400, lr=0.01, weight_decay=1e-4):
    """Train the classifier on 80 % of the real digits; deterministic for a seed."""
    x, y = digits.load_small()
    x = x / digits.SOURCE_MAX
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    cut = int(0.8 * len(x))
    tr, te = order[:cut], order[cut:]
    onehot = np.eye(10)[y[tr]]
    params = [rng.normal(0, np.sqrt(2 / 64), (64, hidden)), np.zeros(hidden),
              rng.normal(0, np.sqrt(2 / hidden), (hidden, 10)), np.zeros(10)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for it in range(1, iterations + 1):
        w1, b1, w2, b2 = params
        pre = x[tr] @ w1 + b1
        h = np.maximum(pre, 0)
        logits = h @ w2 + b2
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(tr)
        gw2 = h.T @ g + weight_decay * w2
        gh = (g @ w2.T) * (pre > 0)
        grads = [x[tr].T @ gh + weight_decay * w1, gh.sum(0), gw2, g.sum(0)]
        for i, gr in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * gr
            v[i] = 0.999 * v[i] + 0.001 * gr ** 2
            params[i] = params[i] - lr * (m[i] / (1 - 0.9 ** it)) / (
                np.sqrt(v[i] / (1 - 0.999 ** it)) + 1e-8)
    clf = Classifier(*params, test_accuracy=0.0)
    acc = float(np.mean(clf.predict(x[te] * digits.SOURCE_MAX) == y[te]))
    return Classifier(*params, test_accuracy=acc)
