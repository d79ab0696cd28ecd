"""Host-side models of the datapath: how a host (later, the core's control)
turns GEMMs and FFN-Reuse masks into engine tiles and puts their results back."""
