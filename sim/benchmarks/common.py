"""What the benchmarks share: where a design's measurement files go, and
the stored reference records they read."""

import json

from exdisc.hw.units import get_unit
from exdisc.sim.harness.runner import sim_dir


__all__ = ["bench_file", "reference_record"]


def reference_record(name):
    """The stored reference record ``name`` (``docs/results/<name>.json``),
    or None without one."""
    from exdisc.common.workdir import reference_dir
    ref = reference_dir()
    path = ref / f"{name}.json" if ref else None
    if path is None or not path.exists():
        return None
    return json.loads(path.read_text())


def bench_file(unit_name, params, name):
    """A file in the benchmark directory of a unit's Verilator build."""
    directory = sim_dir(get_unit(unit_name).module_name(params), "bench")
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name
