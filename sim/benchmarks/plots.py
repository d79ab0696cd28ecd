"""Figures of benchmark results, drawn with matplotlib.

matplotlib is the optional ``plot`` extra (``pip install exdisc[plot]``;
``make`` installs it): without it :func:`available` is False and the
commands say so and skip their figures. Every figure has a title, labelled
axes with units and a legend, and is written as PNG with fixed metadata, so
the same data gives the same file.
"""

import importlib.util

import numpy as np


__all__ = ["available", "grouped_bars", "image_pairs"]


def available():
    """Whether matplotlib is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    # No date or version in the file: a rerun on the same data writes the same bytes.
    fig.savefig(path, dpi=110, metadata={"Software": None}, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def grouped_bars(path, groups, series, *, title, ylabel, xlabel=None, ylim=None, marks=None):
    """Bars of ``series`` (label -> one value per group), side by side in each
    group, with a legend; ``marks`` (label -> value) are dashed horizontal lines
    such as targets."""
    plt = _pyplot()
    labels = list(series)
    width = 0.8 / max(1, len(labels))
    x = np.arange(len(groups))
    bars = len(groups) * max(1, len(labels))
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 0.25 * bars)), 4.0))
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, len(labels)))
    for n, (label, colour) in enumerate(zip(labels, colours)):
        ax.bar(x + (n - (len(labels) - 1) / 2) * width, series[label], width, label=label,
               color=colour)
    for label, value in (marks or {}).items():
        ax.axhline(value, linestyle="--", color="black", linewidth=1, label=label)
    crowded = sum(len(str(g)) for g in groups) > 60       # labels would overlap side by side
    ax.set_xticks(x, groups, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncols=min(4, len(labels) + len(marks or {})),
              loc="upper center", bbox_to_anchor=(0.5, -0.3 if crowded else -0.18))
    return _save(fig, path)


def image_pairs(path, reference, images, *, title, labels, reference_title, run_title,
                columns=10):
    """Two panels of generated images side by side: the ``reference`` run and
    another, ``[N, 1, H, W]`` in [-1, 1]; each image is titled with its entry of
    ``labels`` (the class it was asked for)."""
    plt = _pyplot()
    n = len(images)
    rows = -(-n // columns)
    fig = plt.figure(figsize=(2 * columns * 0.55, rows * 0.7 + 0.9), layout="constrained")
    for sub, imgs, head in zip(fig.subfigures(1, 2, wspace=0.04), (reference, images),
                               (reference_title, run_title)):
        sub.suptitle(head, fontsize=8)
        for i, ax in enumerate(sub.subplots(rows, columns, squeeze=False).flat):
            ax.axis("off")
            if i < n:
                ax.imshow(np.clip(imgs[i, 0], -1, 1), cmap="gray", vmin=-1, vmax=1)
                ax.set_title(str(labels[i]), fontsize=6, pad=1)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
