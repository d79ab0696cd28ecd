"""Verilog and RTLIL emission, deterministic for the same parameters."""

import pathlib
import re

from amaranth.back import rtlil, verilog


__all__ = ["emit_verilog", "emit_rtlil"]


# Source attributes carry absolute paths, which differ between checkouts,
# installs and virtual environments; rewriting them keeps the text identical
# everywhere. Installed files are named from their site-packages
# (``exdisc/hw/lod.py``, ``amaranth/lib/stream.py``), and the files of a
# source checkout by the same names (``hw/lod.py`` is ``exdisc/hw/lod.py``).
_CHECKOUT = str(pathlib.Path(__file__).resolve().parent.parent) + "/"
_MAPPED = {"hw", "golden", "sim", "synth"}      # checkout folders of exdisc.* packages
_SRC_PATH = re.compile(r'(src = ")([^"]*)(")')


def _portable_path(path):
    marker = "/site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    if path.startswith(_CHECKOUT):
        rel = path[len(_CHECKOUT):]
        return f"exdisc/{rel}" if rel.split("/", 1)[0] in _MAPPED else rel
    return path


def _portable_src(text):
    def fix(match):
        paths = match.group(2).split("|")
        return match.group(1) + "|".join(_portable_path(p) for p in paths) + match.group(3)

    return _SRC_PATH.sub(fix, text)


def emit_verilog(component, name, platform=None):
    """Verilog text of ``component`` with top module ``name``; ``platform``
    is a :mod:`exdisc.hw.platform` target or None for portable RTL."""
    return _portable_src(verilog.convert(component, name=name, platform=platform, emit_src=True))


def emit_rtlil(component, name, platform=None):
    """RTLIL text of ``component`` with top module ``name``."""
    return _portable_src(rtlil.convert(component, name=name, platform=platform, emit_src=True))
