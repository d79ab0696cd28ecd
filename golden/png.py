"""A minimal greyscale PNG writer (zlib only), for sample grids."""

import struct
import zlib

import numpy as np


def _chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png(path, image):
    """Write a 2-D uint8 array as an 8-bit greyscale PNG (deterministic bytes)."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image: expected a 2-D uint8 array, got {image.dtype} {image.shape}")
    h, w = image.shape
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(h))
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def tile(images, columns, pad=2, scale=2, fill=64):
    """Arrange ``[N, 1, H, W]`` images in [-1, 1] in a grid, ``columns`` wide, as uint8."""
    images = np.asarray(images)
    n, _, h, w = images.shape
    rows = -(-n // columns)
    cell_h, cell_w = h * scale + pad, w * scale + pad
    out = np.full((rows * cell_h + pad, columns * cell_w + pad), fill, dtype=np.uint8)
    pix = np.clip((images[:, 0] + 1.0) * 127.5, 0, 255).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        big = np.kron(pix[i], np.ones((scale, scale), dtype=np.uint8))
        out[pad + r * cell_h:pad + r * cell_h + h * scale,
            pad + c * cell_w:pad + c * cell_w + w * scale] = big
    return out


def side_by_side(grids, gap=8, fill=255):
    """Place uint8 grids left to right with a white gap."""
    h = max(g.shape[0] for g in grids)
    parts = []
    for i, g in enumerate(grids):
        if i:
            parts.append(np.full((h, gap), fill, dtype=np.uint8))
        parts.append(np.pad(g, ((0, h - g.shape[0]), (0, 0)), constant_values=fill))
    return np.concatenate(parts, axis=1)
