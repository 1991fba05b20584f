"""TF32: each implementation turns it off at import (foundation/precision.py), and on a GPU float32
parity holds at the float32 tolerance."""

import keras
import pytest

import impl_jax
import impl_keras
import impl_torch
from foundation import precision
from parity_tests.harness import assert_forward_parity
from rosetta import tasks

FRAMEWORKS = {"torch": impl_torch, "jax": impl_jax, keras.backend.backend(): impl_keras}


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_implementations_compute_float32_matmuls_in_float32(framework):
    assert precision.is_strict(framework)


def test_the_check_sees_tf32_turned_back_on():
    import torch

    torch.backends.cudnn.allow_tf32 = True
    try:
        assert not precision.is_strict("torch")
    finally:
        precision.strict_float32("torch")


# Defined only where a framework sees a GPU: on a CPU there is nothing to run, and nothing to skip.
# impl_torch keeps its tensors on the CPU; JAX and TensorFlow move them to a GPU by themselves.
GPU = [name for name in FRAMEWORKS if name != "torch" and precision.gpu_present(name)]
if GPU:

    @pytest.mark.parametrize("framework", GPU)
    def test_float32_parity_on_the_gpu(framework):
        """mlp-large's 1024-wide matmuls in float32: TF32 (≈1e-3) would miss the 1e-5 tolerance."""
        assert_forward_parity(FRAMEWORKS[framework], tasks.get("mlp-large"), "float32")
