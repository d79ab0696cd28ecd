"""Stimulus and golden expectations, simulator-neutral: what the Amaranth
tests and the cocotb testbenches of each unit send and expect, computed by
the golden models (random, degenerate and real DiT operands)."""
