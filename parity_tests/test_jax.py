"""What only impl_jax has: gradients on an activation's kink, max-pool ties, float32 throughout,
optax's optimizers on random MLPs, the scan's minibatch schedules and its compilation cache. The
contract it shares with torch and Keras is test_contract.py."""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import impl_jax
import reference_numpy as ref
from foundation import tolerances
from foundation.errors import RosettaError
from impl_jax import mlp, transformer
from impl_jax.train import run_full_batch
from parity_tests.harness import assert_forward_parity, assert_trajectory_parity, forward_diffs
from parity_tests.strategies import mlp_tasks
from rosetta import tasks

DTYPES = ["float64", "float32"]
BY_DTYPE = [pytest.param(dtype, id=f"jax-{dtype}") for dtype in DTYPES]


# ---- one evaluation: forward, loss, every gradient ----


def kinked_task():
    """Zero biases and a 1-unit ReLU first: rows where it is off carry exact zeros through every
    later layer (f(0) = 0 for each), so the relu, elu and leaky_relu after it sit on their kink.
    Their derivatives at 0 reach the bias gradients; a relu later in the chain would block them."""
    return tasks.make((3, 1, 2, 2, 2, 1), ("relu", "relu", "elu", "leaky_relu", "linear"), n=8, seed=3)


def test_gradients_on_the_kink_follow_the_reference():
    task = kinked_task()
    _, cache = ref.mlp.predict(task, task.init_params(), task.data()[0])
    assert all((z == 0).any() for _, z, _ in cache[1:4])  # the check below really visits z = 0
    assert_forward_parity(impl_jax, task, "float64")


@pytest.mark.parametrize(
    "activation, wrong",
    [
        ("leaky_relu", lambda z, alpha: jax.nn.leaky_relu(z, alpha)),  # grad 1 at 0, not α
        ("relu", lambda z, alpha: jnp.maximum(z, 0)),  # grad ½ at 0, not 0
        ("elu", lambda z, alpha: jnp.where(z > 0, z, alpha * jnp.expm1(jnp.minimum(z, 0)))),  # α/2, not α
    ],
    ids=["jax.nn.leaky_relu", "jnp.maximum-relu", "jnp.minimum-elu"],
)
def test_the_check_catches_a_wrong_gradient_at_the_kink(monkeypatch, activation, wrong):
    task = kinked_task()  # a new task (its own data function): nothing compiled for it yet
    real = mlp.activation

    def patched(name, z, alpha):
        return wrong(z, alpha) if name == activation else real(name, z, alpha)

    monkeypatch.setattr(mlp, "activation", patched)
    diffs = forward_diffs(impl_jax, task, task.init_params(), "float64")
    assert diffs["forward"] <= tolerances.FORWARD["float64"]  # same values,
    assert diffs["grads"] > 1e-3  # different derivative at 0


def pool_ties():
    """A 2×2 conv with an all-ones kernel sums its patch: on 0/1 images different patches tie in the
    max-pool windows, so which tied element gets the gradient changes dW. (The catalog's cnn has
    noisy pixels: no ties; its bars without noise tie only on identical patches, where it does not.)
    A new task per call (its own data function): nothing compiled for it yet."""

    def data():
        rng = np.random.default_rng(0)
        return rng.integers(0, 2, size=(16, 5, 5, 1)).astype(float), rng.standard_normal((16, 2))

    layers = (
        tasks.Conv2D(2, 2, 1, "valid", "linear"),
        tasks.Pool2D(2, "max"),
        tasks.Flatten(),
        tasks.Layer(2),
    )
    task = tasks.Task(
        "pool-ties", "max-pool windows with tied maxima", (5, 5, 1), layers, "mse", tasks.Optimizer(), data
    )
    params = task.init_params()
    params[0]["W"][:] = 1.0
    return task, params


def naive_maxpool(x, p):
    """jnp.max over p×p blocks: its gradient splits among tied maxima."""
    n, h, w, c = x.shape
    return jnp.max(x[:, : h // p * p, : w // p * p].reshape(n, h // p, p, w // p, p, c), axis=(2, 4))


@pytest.mark.parametrize("dtype", BY_DTYPE)
def test_max_pool_ties_send_the_gradient_to_the_first_max(dtype):
    task, params = pool_ties()
    conv_out = ref.mlp.predict(task, params, task.data()[0])[1][0][2]  # (N, 4, 4, 2)
    windows = ref.conv.windows(conv_out, 2)  # (N, 2, 2, 2, 4)
    assert ((windows == windows.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).mean() > 0.3  # ties
    params = [{k: v.astype(dtype) for k, v in layer.items()} for layer in params]
    assert_forward_parity(impl_jax, task, dtype, params)


def test_the_check_catches_split_ties(monkeypatch):
    task, params = pool_ties()
    monkeypatch.setitem(mlp.POOLS, "max", naive_maxpool)
    diffs = forward_diffs(impl_jax, task, params, "float64")
    assert diffs["forward"] <= tolerances.FORWARD["float64"]  # same values,
    assert diffs["grads"] > 1e-2  # the gradient split among the tied maxima


def test_float32_weights_compute_in_float32():
    task = tasks.get("softmax")
    x, y = task.data()
    params = task.init_params("float32")
    _, grads = impl_jax.loss_and_grads(task, params, x, y)
    trained, history = impl_jax.train(task, params, tolerances.trajectory_steps(task, "float32"))
    arrays = [v for layer in grads + trained for v in layer.values()] + [history["loss"]]
    assert all(a.dtype == np.float32 for a in arrays)


# ---- the transformer: each formula of impl_jax/transformer.py broken once, the check fails ----


def fresh_transformer():
    """The catalog's transformer as a new task (its own data function): nothing compiled for it yet."""
    task = tasks.get("transformer")
    return dataclasses.replace(task, make_data=functools.partial(task.make_data))


TRANSFORMER_BREAKS = {  # (function of impl_jax.transformer, the wrong one)
    # head j = columns j, j + h, … instead of j·d … (j+1)·d
    "heads-split-as-(d,h)": (
        "split_heads",
        lambda a, heads: a.reshape(*a.shape[:2], -1, heads).swapaxes(2, 3),
    ),
    "scale-1/sqrt(E)": ("scale", lambda d: 1 / math.sqrt(2 * d)),  # E = h·d, h = 2
    "mask-sees-t+1": ("causal_mask", lambda t: jnp.tril(jnp.ones((t, t), dtype=bool), k=1)),
    "gelu-tanh-default": None,  # mlp.activation: jax.nn.gelu(z), approximate=True
}


@pytest.mark.parametrize("break_", list(TRANSFORMER_BREAKS), ids=lambda b: f"jax-{b}")
def test_the_check_catches_a_broken_transformer(monkeypatch, break_):
    if TRANSFORMER_BREAKS[break_] is None:
        real = mlp.activation
        monkeypatch.setattr(
            mlp, "activation", lambda n, z, a: jax.nn.gelu(z) if n == "gelu" else real(n, z, a)
        )
    else:
        monkeypatch.setattr(transformer, *TRANSFORMER_BREAKS[break_])
    task = fresh_transformer()
    diffs = forward_diffs(impl_jax, task, task.init_params(), "float64")
    assert min(diffs.values()) > 1e3 * tolerances.FORWARD["float64"], diffs


def test_the_check_catches_an_untied_output_projection(monkeypatch):
    """The head's use of E cut from the gradient (as a separate copy would be): same logits, E's
    gradient lacks the head's half."""
    monkeypatch.setattr(transformer, "tied_output", lambda h, E: h @ jax.lax.stop_gradient(E).T)
    task = fresh_transformer()
    diffs = forward_diffs(impl_jax, task, task.init_params(), "float64")
    assert max(diffs["forward"], diffs["loss"]) <= tolerances.FORWARD["float64"], diffs
    assert diffs["grads"] > 1e3 * tolerances.FORWARD["float64"], diffs


# ---- training: per-step losses and final weights ----

OPTIMIZERS = {
    "momentum": dict(name="sgd", lr=0.05, momentum=0.9),
    "nesterov": dict(name="sgd", lr=0.05, momentum=0.9, nesterov=True),
    "adam": dict(name="adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6),
}


@pytest.mark.parametrize("dtype", BY_DTYPE)
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@settings(max_examples=2)  # each example compiles a training scan anew (~0.7 s)
@given(task=mlp_tasks(losses=("mse", "bce_logits", "softmax_ce")))
def test_trajectory_random_mlps(optimizer, dtype, task):
    """optax's momentum, Nesterov and Adam against the reference's torch-form formulas, 30 steps."""
    task = dataclasses.replace(tasks.with_optimizer(task, **OPTIMIZERS[optimizer]), epochs=30)
    assert_trajectory_parity(impl_jax, task, dtype)


@pytest.mark.parametrize("nesterov", [False, True], ids=["jax-momentum", "jax-nesterov"])
def test_trajectory_through_a_learning_rate_drop(nesterov):
    """optax's buffer b = μb + g takes the new lr at once, as torch's and the reference's."""
    drop = tasks.Optimizer("sgd", lr=0.05, momentum=0.9, nesterov=nesterov, lr_drops=((30, 0.005),))
    task = tasks.make((2, 4, 1), ("tanh", "linear"), optimizer=drop, epochs=60, seed=2)
    assert_trajectory_parity(impl_jax, task, "float64")


@pytest.mark.parametrize(
    "changes", [dict(form="keras"), dict(name="adam", form="keras")], ids=["momentum", "adam"]
)
def test_keras_forms_are_refused_by_name(changes):
    """optax has only the torch forms; a Keras-form task fails loudly instead of training another formula."""
    task = tasks.with_optimizer(tasks.get("sine-nesterov"), **changes)
    with pytest.raises(RosettaError, match="impl_jax follows optax's .* not form 'keras'"):
        impl_jax.train(task, task.init_params(), 5)


@pytest.mark.parametrize(
    "n, batch_size",
    [(70, 32), (64, 16), (10, 32)],
    ids=["jax-short-last-batch", "jax-no-short-batch", "jax-one-batch-per-epoch"],
)
def test_minibatch_schedules(n, batch_size):
    """Each shape of batch in the scan over the shared order, 200 steps: epochs with or without a
    short last batch, all short (N < size), and (70 rows: 32, 32, 6) a partial last epoch."""
    task = tasks.make((2, 4, 1), ("tanh", "linear"), n=n, batch_size=batch_size, epochs=100, seed=5)
    assert_trajectory_parity(impl_jax, task, "float64")


# ---- the contract around training ----


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the reference's NumPy overflowing
def test_compilation_is_cached_across_calls_with_the_same_shapes():
    task = tasks.get("xor")
    impl_jax.train(task, task.init_params(), 7)
    compiled = run_full_batch._cache_size()
    impl_jax.train(task, task.init_params(), 7)
    assert run_full_batch._cache_size() == compiled
