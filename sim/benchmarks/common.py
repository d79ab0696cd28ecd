"""What the benchmarks share: where a design's measurement files go."""

from exdisc.hw.units import get_unit
from exdisc.sim.harness.runner import sim_dir


__all__ = ["bench_file"]


def bench_file(unit_name, params, name):
    """A file in the benchmark directory of a unit's Verilator build."""
    directory = sim_dir(get_unit(unit_name).module_name(params), "bench")
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name
