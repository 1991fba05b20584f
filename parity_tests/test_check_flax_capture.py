"""Port-check's Flax capture runs the model under jax.jit (one XLA program, compiled once per structure
and shapes): it records the graph the op-by-op capture records, node for node, and a model jax cannot
trace is captured op by op."""

import jax
import numpy as np
import pytest
from flax import nnx

from parity_tests.zoo import minigpt_flax, nnx_kwargs
from rosetta.portcheck.adapters import flax as adapter


def residual_batchnorm(dtype="float64"):
    kw = nnx_kwargs(dtype)

    class Block(nnx.Module):
        def __init__(self):
            self.linear, self.norm, self.out = (
                nnx.Linear(4, 4, **kw),
                nnx.BatchNorm(4, **kw),
                nnx.Linear(4, 2, **kw),
            )

        def __call__(self, x):
            return self.out(nnx.relu(self.norm(self.linear(x)) + x))

    return Block()


class ReadsItsValues(nnx.Module):
    """Python on a value (float() of an array): jax cannot trace it."""

    def __init__(self):
        self.first, self.second = (
            nnx.Linear(4, 3, **nnx_kwargs("float64")),
            nnx.Linear(3, 2, **nnx_kwargs("float64")),
        )

    def __call__(self, x):
        h = self.first(x)
        return self.second(nnx.relu(h) if float(h.max()) > 0 else h)


def owned(graph, model):
    """Each node with its owner's path in `model` (an owner of another model is a KeyError)."""
    paths = adapter.modules(model)
    return [(n.name, n.layer, n.inputs, n.owner and paths[id(n.owner)]) for n in graph.nodes]


def same_graph(compiled, eager, models):
    assert owned(compiled, models[0]) == owned(eager, models[1])
    assert compiled.output == eager.output and compiled.values.keys() == eager.values.keys()
    for name, value in eager.values.items():
        np.testing.assert_allclose(compiled.values[name], value, rtol=1e-12, atol=1e-14, err_msg=name)


def inputs(model):
    rng = np.random.default_rng(0)
    return rng.integers(0, 11, size=(3, 6)) if hasattr(model, "token_emb") else rng.normal(size=(8, 4))


@pytest.mark.parametrize("build, mode", [(minigpt_flax, "eval"), (residual_batchnorm, "train")])
def test_the_compiled_capture_is_the_op_by_op_capture(build, mode):
    """Node for node (names, ops, inputs, owners at the same paths), values to float64's last
    digits; in training mode, BatchNorm's running statistics after the call as well."""
    model = build("float64")
    wrapped, x = adapter.FlaxModel(model), inputs(model)
    copies = [nnx.clone(model), nnx.clone(model)]
    for copy in copies:
        getattr(copy, mode)()
    eager = wrapped.eager_capture(copies[1], wrapped.tensor(x))
    wrapped.eager_capture = None  # the op-by-op path, if taken, fails
    compiled = wrapped.capture(x, copies[0])
    same_graph(compiled, eager, copies)
    for a, b in zip(
        jax.tree.leaves(nnx.state(copies[0])), jax.tree.leaves(nnx.state(copies[1])), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)
    held = list(adapter.COMPILED)  # a miss would add a key (and, with 64 held, drop the oldest)
    again = wrapped.capture(x, copies[0])  # the same structure and shapes: the compiled program reused
    assert list(adapter.COMPILED) == held and owned(again, copies[0]) == owned(compiled, copies[0])


def test_a_model_jax_cannot_trace_is_captured_op_by_op():
    model = ReadsItsValues()
    wrapped, x = adapter.FlaxModel(model), inputs(model)
    with pytest.raises(jax.errors.ConcretizationTypeError):
        adapter.traced_capture(nnx.clone(model), wrapped.tensor(x))
    copies = [nnx.clone(model), nnx.clone(model)]
    same_graph(wrapped.capture(x, copies[0]), wrapped.eager_capture(copies[1], wrapped.tensor(x)), copies)
