"""Greyscale bar charts as PNG (NumPy and :func:`golden.png.write_png` only),
for benchmark results. No text is drawn: the caller prints the legend."""

import numpy as np

from golden.png import write_png


__all__ = ["bar_chart"]


def bar_chart(path, groups, *, ymax=1.0, marks=(), bar=10, gap=14, height=200, pad=12):
    """Grouped bars: ``groups[g][s]`` is series ``s`` of group ``g``, in ``[0, ymax]``.

    Series are drawn left to right in each group from dark to light grey;
    ``marks`` are dashed horizontal lines (targets), and a solid line marks
    ``ymax``. Values above ``ymax`` raise ``ValueError``: nothing is clipped.
    """
    values = np.asarray(groups, dtype=float)
    if values.ndim != 2 or not values.size:
        raise ValueError(f"groups: expected a non-empty 2-D table, got shape {values.shape}")
    if values.min() < 0 or values.max() > ymax:
        raise ValueError(f"groups: values must lie in [0, {ymax}], got "
                         f"[{values.min()}, {values.max()}]")
    n_groups, n_series = values.shape
    width = pad * 2 + n_groups * (n_series * bar + gap)
    img = np.full((height + 2 * pad, width), 255, dtype=np.uint8)
    y = lambda v: pad + height - int(round(v / ymax * height))
    shades = np.linspace(40, 200, n_series).astype(np.uint8)
    for g in range(n_groups):
        x0 = pad + gap // 2 + g * (n_series * bar + gap)
        for s in range(n_series):
            top = y(values[g, s])
            img[top:pad + height, x0 + s * bar:x0 + (s + 1) * bar - 1] = shades[s]
    img[pad + height, :] = 0                       # axis
    img[y(ymax), :] = 0                            # ymax line
    for mark in marks:
        img[y(mark), ::4] = 0                      # dashed target
    write_png(path, img)
    return path
