"""Formal proofs of the LOD at W = 32, and the proof's power to fail."""

import pytest

from hw.lod import LODParams
from synth.formal import prove_lod
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
