"""The core: the engine, the non-linear unit, on-chip buffers, load and store
streams, and a descriptor stream as its only control input (``docs/core.md``):
the descriptor layouts (:mod:`.isa`), the decoder (:mod:`.decode`), the
dependency tokens (:mod:`.tokens`), the buffers (:mod:`.buffer`), the load
and store units (:mod:`.transfer`), the GEMM unit (:mod:`.gemm`), the vector
unit (:mod:`.vector`) and the whole core (:mod:`.core`), dense on
:class:`~.params.CoreParams`, ExionCore on :class:`~.params.ExionParams` and
DiscCore on :class:`~.params.DiscParams`."""
