"""NumPy golden models: the algorithms and bit-exact models of each RTL unit.

This package imports nothing else of the project; it is the oracle that the
RTL tests compare against.
"""
