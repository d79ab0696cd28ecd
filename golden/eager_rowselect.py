"""Row selection of the eager predictor, bit-exact: the golden twin of
:class:`exdisc.hw.eager_rowselect.RowSelector`. A row of predicted integer
scores in, the keys to keep out: max-relative threshold or top-k.
"""

import numpy as np

__all__ = ["select_max_relative", "select_top_k"]


def select_max_relative(sp, theta):
    """Keep ``j`` with ``Sp[i, j] >= max_j Sp[i, j] - theta`` (``theta`` an integer)."""
    sp = np.asarray(sp, dtype=np.int64)
    return sp >= sp.max(-1, keepdims=True) - np.asarray(theta, dtype=np.int64)


def select_top_k(sp, k):
    """Keep the ``k`` largest of each row; among equal scores the lower index wins."""
    sp = np.asarray(sp)
    n = sp.shape[-1]
    if k >= n:
        return np.ones(sp.shape, dtype=bool)
    kth = np.partition(sp, n - k, axis=-1)[..., n - k:n - k + 1]
    above = sp > kth
    tied = sp == kth
    # fill the remaining places with the lowest-index ties
    room = k - above.sum(-1, keepdims=True)
    return above | (tied & (np.cumsum(tied, axis=-1) <= room))
