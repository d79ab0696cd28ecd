"""Benchmarks: measure the RTL (and the algorithms) on real workloads.

Each module measures one thing and returns a *record*, a JSON-able dict that
the command line saves under ``<build>/bench/`` (and, with ``--update``, as
the committed reference in ``docs/results/``):

* :mod:`.systolic`: cycles and busy fraction of back-to-back GEMM tiles,
  RTL against the golden cycle model;
* :mod:`.ffn`: a sparse FFN-Reuse step of the DiT on engines with merge lanes;
* :mod:`.conmerge`: ConMerge's schedules on the DiT's FFN-Reuse masks;
* :mod:`.router`: sustained requests per lane per cycle of the hash bank router;
* :mod:`.eager`: recall and sparsity of eager prediction on the DiT;
* :mod:`.workload`: the DiT sampled densely and with each algorithm.

Every module also turns its record into :class:`exdisc.common.tables.Table` objects
(``tables``) and, where a figure helps, a plot (``plot``); ``failures`` lists
what makes the run a failed check (an RTL cycle count that is not the
model's, say).
"""
