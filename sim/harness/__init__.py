"""The harness: build a design with Verilator once per parameter point and run
cocotb on it (:mod:`.runner`, :mod:`.verilator`, :mod:`.objcache`), drive and
watch its streams (:mod:`.streams` in cocotb, :mod:`.pysim` in the Amaranth
simulator), bound every testbench (:mod:`.limits`), and pack payloads
(:mod:`.payload`). :mod:`.signoff` names the testbench of each unit.
``primitives/`` holds simulation models of the ECP5 primitives."""
