"""The reference transformer layers against calculus (central differences, L = Σ out ⊙ R) and against an
independent forward, torch's scaled_dot_product_attention in float64; the whole task's gradient against
central differences; AdamW's decoupled step written out."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import reference_numpy as ref
from foundation import tolerances
from foundation.catalog import get
from foundation.tolerances import rel_diff
from parity_tests.test_reference_layers import assert_gradcheck, gradcheck_errors, numeric_grad, rng
from reference_numpy import optim, transformer

N, T, E = 2, 5, 6


def attention_arrays(bias, seed=0):
    r = rng(seed)
    arrays = {"x": r.standard_normal((N, T, E))} | {f"W{p}": r.standard_normal((E, E)) / 2 for p in "qkvo"}
    return arrays | ({f"b{p}": r.standard_normal(E) for p in "qkvo"} if bias else {})


def attention_layer(heads, causal):
    def forward(x, **layer):
        return transformer.attention(x, layer, heads, causal)

    def backward(d, saved):
        dx, grads = transformer.attention_backward(d, saved)
        return {"x": dx, **grads}

    return forward, backward


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_gradcheck_attention(causal, heads, bias):
    """The key's bias adds bk·q_t to every score of query t, which the softmax cancels: its gradient is
    exactly 0 (the analytic one) or rounding (the numeric one), never a relative figure."""
    errors = gradcheck_errors(*attention_layer(heads, causal), attention_arrays(bias))
    assert max(error for name, error in errors.items() if name != "bk") <= tolerances.GRADCHECK, errors
    if bias:
        forward, backward = attention_layer(heads, causal)
        out, saved = forward(**attention_arrays(bias))
        assert np.abs(backward(rng(1).standard_normal(out.shape), saved)["bk"]).max() < 1e-12


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_attention_is_torch_s_scaled_dot_product_attention(causal):
    """An independent forward: torch's F.scaled_dot_product_attention (is_causal: key s ≤ query t, the
    diagonal kept) on the same projections, in float64."""
    arrays, heads = attention_arrays(bias=True), 2
    layer = {k: v for k, v in arrays.items() if k != "x"}
    out, _ = transformer.attention(arrays["x"], layer, heads, causal)
    x = torch.from_numpy(arrays["x"])
    q, k, v = (
        (x @ torch.from_numpy(layer[f"W{p}"]) + torch.from_numpy(layer[f"b{p}"]))
        .view(N, T, heads, E // heads)
        .transpose(1, 2)
        for p in "qkv"
    )
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    expected = o.transpose(1, 2).reshape(N, T, E) @ torch.from_numpy(layer["Wo"]) + torch.from_numpy(
        layer["bo"]
    )
    assert rel_diff(out, expected.numpy()) <= tolerances.FORWARD["float64"]


def test_gradcheck_layernorm():
    def forward(x, gamma, beta):
        return transformer.layernorm(x, {"gamma": gamma, "beta": beta}, 1e-5)

    def backward(d, saved):
        dx, grads = transformer.layernorm_backward(d, saved)
        return {"x": dx, **grads}

    r = rng(2)
    arrays = {"x": r.standard_normal((N, T, E)), "gamma": r.standard_normal(E), "beta": r.standard_normal(E)}
    assert_gradcheck(forward, backward, arrays)


def test_gradcheck_embedding_with_repeated_ids_and_positions():
    ids = np.array([[0, 2, 2, 1, 0], [3, 3, 3, 0, 1]])  # token 3 read three times in one sequence

    def forward(E, P):
        h, x = transformer.embedding(ids, E)
        return transformer.position_embedding(h, P)[0], x

    def backward(d, x):
        _, dP = transformer.position_embedding_backward(d)
        return {"E": transformer.embedding_backward(d, x, 4), "P": dP}

    r = rng(3)
    assert_gradcheck(forward, backward, {"E": r.standard_normal((4, E)), "P": r.standard_normal((T, E))})


def test_gradcheck_tied_output_and_gelu():
    def forward(h, E, z):
        logits, saved = transformer.tied_output(h, E)
        return np.concatenate([logits.ravel(), transformer.gelu(z).ravel()]), (saved, z, logits.size)

    def backward(d, cache):
        saved, z, split = cache
        dh, dE = transformer.tied_output_backward(d[:split].reshape(N, T, 4), saved)
        return {"h": dh, "E": dE, "z": d[split:].reshape(z.shape) * transformer.gelu_grad(z)}

    r = rng(4)
    arrays = {
        "h": r.standard_normal((N, T, E)),
        "E": r.standard_normal((4, E)),
        "z": 3 * r.standard_normal(20),
    }
    assert_gradcheck(forward, backward, arrays)


def test_gelu_is_the_exact_erf_form():
    z = np.linspace(-4, 4, 9)
    phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z])
    assert rel_diff(transformer.gelu(z), z * phi) <= tolerances.FORWARD["float64"]


def test_the_transformer_task_s_gradient_is_the_central_differences_of_its_loss():
    """Every weight array of the task (the token table's two uses, the positions, both blocks, ln_f),
    three entries each, on four sequences."""
    task = get("transformer")
    params = task.init_params()
    params = [
        {k: v + 0.1 * rng(i).standard_normal(v.shape) for k, v in layer.items()}
        for i, layer in enumerate(params)
    ]
    x, y = (a[:4] for a in task.data())
    _, grads = ref.loss_and_grads(task, params, x, y)
    loss = lambda: ref.loss_and_grads(task, params, x, y)[0]  # noqa: E731
    worst = 0.0
    for i, layer in enumerate(params):
        for key, w in layer.items():
            for flat in rng(i).integers(0, w.size, 3):
                entry = w.reshape(-1)[flat : flat + 1]  # a view: numeric_grad nudges w itself
                numeric = numeric_grad(loss, entry)[0]
                analytic = grads[i][key].reshape(-1)[flat]
                worst = max(worst, abs(analytic - numeric) / np.abs(grads[i][key]).max())  # as rel_diff
    assert worst <= tolerances.GRADCHECK, worst


@pytest.mark.parametrize("form", ["torch", "keras"])
def test_adamw_decays_before_adam_s_step(form):
    """One step of the reference's AdamW against the formula written out: w ← w·(1 − lr·λ), then Adam at
    t = 1: torch's lr·m̂/(√v̂ + ε) with m̂ = g, v̂ = g²; Keras's lr·√(1−β2)/(1−β1) · m/(√v + ε̂) with
    m = (1−β1)·g, v = (1−β2)·g²."""
    opt = dataclasses.replace(get("transformer").optimizer, lr=0.1, weight_decay=0.5, form=form)
    w, g = np.array([1.0, -2.0, 0.5]), np.array([0.3, -0.1, 2.0])
    params, grads = [{"W": w.copy()}], [{"W": g}]
    optim.update(opt, params, grads, optim.make(opt, params), 1)
    if form == "torch":
        step = 0.1 * g / (np.abs(g) + opt.eps)
    else:
        b1, b2 = opt.beta1, opt.beta2
        step = 0.1 * math.sqrt(1 - b2) / (1 - b1) * (1 - b1) * g / (math.sqrt(1 - b2) * np.abs(g) + opt.eps)
    assert rel_diff(params[0]["W"], w * (1 - 0.1 * 0.5) - step) <= tolerances.FORWARD["float64"]
