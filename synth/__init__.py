"""Synthesis and formal flow: yosys (synth_ecp5, generic synth), nextpnr-ecp5,
SymbiYosys; reports and baselines. Uses ``hw`` only."""
