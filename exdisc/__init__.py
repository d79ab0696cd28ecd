"""exdisc: synthesizable RTL for the datapaths of the EXION and DiSC diffusion-model
accelerators, with bit-exact golden models, cocotb sign-off and synthesis.

The installed namespace mirrors the checkout's folders:

* :mod:`exdisc.golden`: NumPy models (algorithms, bit-exact unit models); imports
  nothing else of exdisc;
* :mod:`exdisc.hw`: Amaranth components, their parameter objects, presets;
  imports nothing else of exdisc;
* :mod:`exdisc.sim`: simulation and benchmarks (uses ``hw`` and ``golden``);
* :mod:`exdisc.synth`: synthesis, place and route, formal proofs (uses ``hw``);
* :mod:`exdisc.cli`: the ``exdisc`` command, on top of them all;
* :mod:`exdisc.common`: where
  results go, progress display and result tables, shared by ``sim``,
  ``synth`` and the command line.
"""

__version__ = "0.1.0"
