"""Formal proofs of the LOD at W = 32, and the proof's power to fail."""

import pytest

from exdisc.hw.lod import LODParams
from exdisc.hw.router import HashBankRouter, RouterParams
from exdisc.synth.formal import prove_bank_map, prove_lod
from lod_mutants import WrongSecondLOD


@pytest.mark.formal
@pytest.mark.parametrize("k", [1, 2])
def test_lod_proof_w32(k):
    result = prove_lod(LODParams(width=32, k=k))
    assert result.passed, result.log[-2000:]


@pytest.mark.formal
def test_lod_proof_rejects_broken_variant():
    result = prove_lod(LODParams(width=32, k=2), WrongSecondLOD, name="lod_prop_broken")
    assert not result.passed
    assert "counterexample" in result.log


@pytest.mark.formal
@pytest.mark.parametrize("hash, banks, addr_width", [
    ("xor", 32, 14), ("xor", 8, 12), ("xor", 64, 17), ("modulo", 32, 14)])
def test_bank_map_bijection(hash, banks, addr_width):
    result = prove_bank_map(RouterParams(hash=hash, banks=banks, addr_width=addr_width,
                                         lanes=16))
    assert result.passed, result.log[-2000:]


class _OrHashRouter(HashBankRouter):
    def bank_of(self, addr):
        bits = self.params.bank_bits
        return addr[:bits] | addr[bits:2 * bits]


@pytest.mark.formal
def test_bank_map_proof_rejects_aliasing_hash():
    result = prove_bank_map(RouterParams(banks=32, addr_width=14), _OrHashRouter,
                            name="bankmap_broken")
    assert not result.passed
    assert "counterexample" in result.log
