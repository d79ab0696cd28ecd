"""Amaranth components of the EXION and DiSC datapaths, their parameter objects,
presets and Verilog/RTLIL emission. Nothing here imports ``sim`` or ``synth``."""
