"""The core: the engine, the non-linear unit, on-chip buffers, load and store
streams, and a descriptor stream as its only control input (``docs/core.md``).
Built so far: the descriptor layouts (:mod:`.isa`), the decoder
(:mod:`.decode`) and the dependency-token counters (:mod:`.tokens`)."""
