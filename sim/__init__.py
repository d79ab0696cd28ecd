"""Simulation: everything that runs the RTL (exdisc.sim; uses exdisc.hw and exdisc.golden).

* :mod:`.harness`: Verilator and cocotb plumbing, stream drivers and monitors,
  the Amaranth-simulator helpers, cycle limits;
* :mod:`.testbenches`: the cocotb testbench of every unit (sign-off) and the
  measuring testbenches the benchmarks run;
* :mod:`.stimulus`: what the testbenches send and expect, from the golden models;
* :mod:`.host`: host-side models of the datapath (tiled GEMMs, FFN-Reuse's sparse
  tiles from a mask and ConMerge's schedule);
* :mod:`.benchmarks`: measurements on real workloads, with their records and tables.
"""
