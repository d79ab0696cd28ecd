"""What the simulation, synthesis and command-line packages share: where
results go (:mod:`.workdir`), the progress display (:mod:`.progress`) and
result tables (:mod:`.tables`). Imports nothing else of exdisc."""
