"""What only impl_torch has: the torch defaults its parity checks catch and the forms it refuses. The
contract it shares with JAX and Keras (forward, gradients, trajectories, xor) is test_contract.py."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import impl_torch
from foundation import tolerances
from foundation.errors import ArgumentError, RosettaError
from parity_tests.harness import (
    forward_diffs,
    trajectory_diffs,
)
from parity_tests.strategies import off_kink_params
from rosetta import tasks

# ---- the checks can fail ----


def test_parity_catches_a_reshape_where_the_transpose_belongs(monkeypatch):
    """A (3, 5) kernel loaded with reshape into Linear's (5, 3): right shape, wrong layout."""
    task = tasks.make((3, 5, 2), ("tanh", "linear"), seed=3)
    real_build = impl_torch.mlp.build

    def reshaping_build(task, params):
        model = real_build(task, params)
        with torch.no_grad():
            model[0].weight.copy_(torch.as_tensor(params[0]["W"]).reshape(5, 3))  # should be .T
        return model

    monkeypatch.setattr(impl_torch.mlp, "build", reshaping_build)
    diffs = forward_diffs(impl_torch, task, task.init_params(), "float64")
    assert min(diffs.values()) > 1e3 * tolerances.FORWARD["float64"], diffs


def test_parity_catches_torchs_default_leaky_relu_slope(monkeypatch):
    """The task's slope is 0.2; nn.LeakyReLU() alone would use torch's 0.01."""
    task = tasks.make((3, 5, 2), ("leaky_relu", "linear"), alpha=0.2, seed=3)
    monkeypatch.setattr(impl_torch.mlp, "activation", lambda spec: nn.LeakyReLU())
    diffs = forward_diffs(impl_torch, task, off_kink_params(task), "float64")
    assert min(diffs.values()) > 1e3 * tolerances.FORWARD["float64"], diffs


def test_parity_catches_a_flatten_in_torchs_nchw_order(monkeypatch):
    """cnn: nn.Flatten on NCHW orders the features (C, H, W); the Dense kernel after it is (H, W, C)."""
    task = tasks.get("cnn")
    monkeypatch.setattr(impl_torch.conv.FlattenNHWC, "forward", lambda self, x: x.flatten(1))
    diffs = forward_diffs(impl_torch, task, task.init_params(), "float64")
    assert min(diffs.values()) > 1e3 * tolerances.FORWARD["float64"], diffs


def test_parity_catches_gru_gates_left_in_canonical_order(monkeypatch):
    """gru: canonical blocks z, r, h copied into torch's r, z, n as they are: update and reset swap."""
    task = tasks.get("gru")
    monkeypatch.setattr(impl_torch.recurrent, "reorder", lambda a, dim: a)
    diffs = forward_diffs(impl_torch, task, task.init_params(), "float64")
    assert min(diffs.values()) > 1e3 * tolerances.FORWARD["float64"], diffs


def test_parity_catches_a_trainable_second_lstm_bias(monkeypatch):
    """lstm: with bias_hh trainable too, b = bias_ih + bias_hh moves twice as far each Adam step."""
    task = tasks.get("lstm")
    real_lstm = impl_torch.mlp.RECURRENT[tasks.LSTM]

    def two_biases(spec, layer, n_in):
        module = real_lstm(spec, layer, n_in)
        module.rnn.bias_hh_l0.requires_grad_(True)
        return module

    monkeypatch.setitem(impl_torch.mlp.RECURRENT, tasks.LSTM, two_biases)
    diffs = trajectory_diffs(impl_torch, task, "float64", steps=5)
    assert diffs["params"] > 1e3 * tolerances.TRAJECTORY["float64"], diffs


# ---- the transformer's conversions (nn.MultiheadAttention, the tied head): each broken once ----


def transformer_diffs():
    task = tasks.get("transformer")
    return forward_diffs(impl_torch, task, task.init_params(), "float64")


def attention_with(monkeypatch, change):
    """Build every attention node from change(layer) instead of its canonical weights."""
    real = impl_torch.transformer.attention
    monkeypatch.setattr(
        impl_torch.transformer, "attention", lambda spec, layer, shape: real(spec, change(layer), shape)
    )


def test_parity_catches_q_and_k_packed_in_the_wrong_order(monkeypatch):
    """in_proj_weight's rows are [Wqᵀ; Wkᵀ; Wvᵀ]: q and k swapped transpose each head's score matrix."""
    attention_with(monkeypatch, lambda layer: {**layer, "Wq": layer["Wk"], "Wk": layer["Wq"]})
    diffs = transformer_diffs()
    assert min(diffs.values()) > 1e3 * tolerances.FORWARD["float64"], diffs


def test_parity_catches_heads_split_the_wrong_way(monkeypatch):
    """Head j is columns j·d … (j+1)·d of Wq, Wk, Wv (and rows of Wo); a port that reads them as (d, h),
    head j = columns j, j + h, …, permutes all four alike: the same features, other heads."""

    def interleaved(layer):
        e, heads = layer["Wq"].shape[0], 2
        order = np.arange(e).reshape(heads, e // heads).T.ravel()  # (h, d) read as (d, h)
        columns = {
            key: layer[key][..., order] for key in ("Wq", "bq", "Wk", "bk", "Wv", "bv") if key in layer
        }
        return {**layer, **columns, "Wo": layer["Wo"][order]}

    attention_with(monkeypatch, interleaved)
    diffs = transformer_diffs()
    assert min(diffs.values()) > 1e3 * tolerances.FORWARD["float64"], diffs


def test_parity_catches_a_causal_mask_off_by_one(monkeypatch):
    """triu(diagonal=2) lets query t see key t + 1: the next token, which it is trained to predict."""
    real = impl_torch.transformer.SelfAttention.__init__

    def leaky(self, mha, causal, length):
        real(self, mha, causal, length)
        self.mask = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=2)

    monkeypatch.setattr(impl_torch.transformer.SelfAttention, "__init__", leaky)
    diffs = transformer_diffs()
    assert min(diffs.values()) > 1e3 * tolerances.FORWARD["float64"], diffs


def test_parity_catches_an_untied_output_projection(monkeypatch):
    """A copy of the token table in the head computes the same logits, but E's gradient then lacks the
    head's half (and the copy's is never reported)."""

    def untie(task, nodes):
        for spec, node in zip(task.layers, nodes):
            if isinstance(spec, tasks.TiedOutput):
                table = dict(zip(task.names, nodes))[spec.embedding][0].weight
                node[0].weight = nn.Parameter(table.detach().clone())

    monkeypatch.setattr(impl_torch.transformer, "tie", untie)
    diffs = transformer_diffs()
    assert max(diffs["forward"], diffs["loss"]) <= tolerances.FORWARD["float64"], diffs
    assert diffs["grads"] > 1e3 * tolerances.FORWARD["float64"], diffs


def test_the_tied_table_is_one_parameter():
    task = tasks.get("transformer")
    model = impl_torch.build(task, task.init_params())
    tables = [model[i].weight for i in model.spans[0]] + [model[i].weight for i in model.spans[-1]]
    assert tables[0] is tables[1]
    assert sum(p is tables[0] for p in model.parameters()) == 1  # the optimizer steps it once


# ---- torch defaults that would give wrong numbers ----


def test_mse_refuses_shapes_that_mse_loss_would_broadcast():
    out, y = torch.arange(4.0).reshape(4, 1), torch.arange(4.0)  # equal values: the true MSE is 0
    with pytest.warns(UserWarning, match="different to the input size"):
        assert F.mse_loss(out, y).item() == 2.5  # (4, 1) vs (4,) -> (4, 4): mean of (i − j)²
    task = tasks.get("line")  # 1 -> 1, mse: foundation.validate refuses such targets before torch sees them
    x, targets = task.data()
    with pytest.raises(ArgumentError, match=r"y: expected mse targets of shape \(1000, 1\) like the output"):
        impl_torch.loss_and_grads(task, task.init_params(), x, targets.ravel())


# ---- the contract around train ----


@pytest.mark.parametrize("name", ["softmax", "sine-nesterov", "transformer"], ids=lambda n: f"torch-{n}")
def test_keras_forms_of_adam_and_momentum_are_refused(name):
    task = tasks.with_optimizer(tasks.get(name), form="keras")
    with pytest.raises(RosettaError, match="no 'keras' form"):
        impl_torch.train(task, task.init_params(), steps=1)


def test_adamw_is_torchs_decoupled_decay():
    """The task's weight_decay is AdamW's, w ← w·(1 − lr·λ) then Adam's step, on every parameter."""
    task = tasks.get("transformer")
    model = impl_torch.build(task, task.init_params())
    optimizer = impl_torch.optim.make(task.optimizer, model.parameters())
    assert type(optimizer) is torch.optim.AdamW
    assert optimizer.param_groups[0]["weight_decay"] == task.optimizer.weight_decay
