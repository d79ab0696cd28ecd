"""Simulation: the Verilator/cocotb harness, stream drivers and monitors,
cocotb testbenches of each unit. Uses ``hw`` and ``golden``."""
