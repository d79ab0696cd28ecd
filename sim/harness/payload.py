"""Pack and unpack stream payloads by their Amaranth layout.

A payload crosses the Verilog boundary as one flat vector; these functions
turn it into nested Python values (dicts for structs, lists for arrays, ints
for plain shapes, signed where the shape is signed) and back.
"""

from amaranth.hdl import Shape
from amaranth.lib import data


__all__ = ["layout_width", "pack", "unpack"]


def layout_width(layout):
    return Shape.cast(layout).width


def unpack(layout, value):
    """Nested Python value of the flat integer ``value`` under ``layout``."""
    value = int(value)
    if isinstance(layout, data.StructLayout):
        return {name: unpack(field.shape, value >> field.offset)
                for name, field in layout}
    if isinstance(layout, data.ArrayLayout):
        w = layout_width(layout.elem_shape)
        return [unpack(layout.elem_shape, value >> (i * w)) for i in range(layout.length)]
    shape = Shape.cast(layout)
    raw = value & ((1 << shape.width) - 1)
    if shape.signed and raw >> (shape.width - 1):
        raw -= 1 << shape.width
    return raw


def pack(layout, value):
    """Flat unsigned integer of the nested ``value`` under ``layout``.

    Raises ``ValueError`` when a field does not fit its shape: a testbench
    must never drive a silently truncated value.
    """
    if isinstance(layout, data.StructLayout):
        out = 0
        for name, field in layout:
            out |= pack(field.shape, value[name]) << field.offset
        return out
    if isinstance(layout, data.ArrayLayout):
        if len(value) != layout.length:
            raise ValueError(f"array of {layout.length} expected, got {len(value)} elements")
        w = layout_width(layout.elem_shape)
        out = 0
        for i, v in enumerate(value):
            out |= pack(layout.elem_shape, v) << (i * w)
        return out
    shape = Shape.cast(layout)
    v = int(value)
    lo, hi = (-(1 << (shape.width - 1)), 1 << (shape.width - 1)) if shape.signed else (0, 1 << shape.width)
    if not lo <= v < hi:
        raise ValueError(f"value {v!r} does not fit {shape!r}")
    return v & ((1 << shape.width) - 1)
