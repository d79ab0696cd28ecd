"""cocotb testbenches, one module per unit (named as the unit's module in
``exdisc.hw``), and the measuring testbenches of the benchmarks
(``*_bench``). Each is run by :func:`exdisc.sim.harness.runner.run_unit` on
the unit's emitted Verilog and compares every output word with the golden
model, under random valid gaps and backpressure."""
