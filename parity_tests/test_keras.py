"""What only impl_keras has, on the backend KERAS_BACKEND selects (run once per backend): floatx, fit's
windows of steps and per-step history, Adam's ε̂, and the Keras defaults its parity checks catch. The
contract it shares with torch and JAX is test_contract.py. Test ids name the backend."""

import importlib
import types
from dataclasses import replace

import keras
import numpy as np
import pytest
from keras import ops

import impl_keras
from foundation import tolerances
from parity_tests.harness import forward_diffs, own_form, record, trajectory_diffs
from parity_tests.strategies import off_kink_params
from rosetta import tasks

BACKEND = keras.backend.backend()
NAME = f"keras-{BACKEND}"


@pytest.mark.parametrize("dtype", ["float64", "float32"], ids=lambda d: f"{NAME}-{d}")
def test_floatx_follows_the_weights_and_is_restored(dtype):
    task = tasks.get("xor")
    params, before = task.init_params(dtype), keras.config.floatx()
    trained, history = impl_keras.train(task, params, steps=3)
    assert impl_keras.forward(task, params, task.data()[0]).dtype == np.dtype(dtype)
    assert {a.dtype for layer in trained for a in layer.values()} == {np.dtype(dtype)}
    assert history["loss"].dtype == np.dtype(dtype)
    assert keras.config.floatx() == before


# ---- trajectories through model.fit ----

WINDOWED = ("xor", "sine-relu", "softmax")  # full batch (rows in order), short batches (a generator), Adam


@pytest.mark.parametrize("name", WINDOWED, ids=lambda name: f"{NAME}-{name}")
def test_trajectory_in_windows_of_steps(name):
    """compile(steps_per_execution=7) (one step per execution on torch): the mean loss per sample of
    each 7 steps, 60 steps across windows and fit's executions, and the weights after, as the
    reference's (foundation.history.windows)."""
    task = tasks.get(name)
    diffs = trajectory_diffs(impl_keras, task, "float64", own_form("keras", task), steps=60, every=7)
    assert max(diffs.values()) <= tolerances.TRAJECTORY["float64"], diffs


@pytest.mark.parametrize("name", ["xor", "sine-relu"], ids=lambda name: f"{NAME}-{name}")
def test_a_run_given_until_stops_once_its_clock_has_passed_it(name):
    """rosetta bench's one build per task: until=0 is passed at the first execution's end, so arrays stop
    there (fit's stop_training) and a generator ends within the batches fit has read ahead; the history
    and the clock hold the steps run."""
    task = tasks.get(name)
    every = 100
    _, history = impl_keras.train(task, task.init_params("float64"), 4000, every, until=0.0)
    done, per_execution = history["clock"][-1][0], impl_keras.steps_per_execution(every)
    assert done == per_execution if name == "xor" else per_execution <= done <= 2 * every, done
    assert len(history["loss"]) == -(-done // every)


def test_a_run_that_stops_itself_trains_on_calls_growing_from_first_fit(monkeypatch):
    """until: fit calls of FIRST_FIT values, twice as many each next (128 MB built up front cost softmax
    ~0.45 s of a run stopped after a second). A run that does not stop is, call by call, the one-call
    run: the same losses and weights; its clock numbers each reading's call."""
    monkeypatch.setattr(importlib.import_module("impl_keras.train"), "FIRST_FIT", 16 * 12)  # xor: 12 a step
    task, every = tasks.get("xor"), 8
    params = task.init_params("float64")
    one_call = impl_keras.train(task, params, 200, every)
    trained, history = impl_keras.train(task, params, 200, every, until=1e9)
    clock = history["clock"]
    ends = [clock[clock[:, 2] == call][-1, 0] for call in np.unique(clock[:, 2])]
    assert ends == [16, 16 + 32, 16 + 32 + 64, 200], ends  # 16 steps, 32, 64, then 128 (the last 88)
    np.testing.assert_allclose(history["loss"], one_call[1]["loss"], rtol=1e-12, atol=0)
    for got, want in zip(trained, one_call[0]):
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["xor", "sine-relu"], ids=lambda name: f"{NAME}-{name}")
def test_fit_reads_tensorflow_s_own_pipeline_with_autotuning_off(monkeypatch, name):
    """On TensorFlow, fit gets the tf.data pipeline it would build (batches of the rows in order, or
    from a generator), with tf.data's autotuning off: on one thread its optimizer took a fifth to a third
    of the steps' time, and held up a stopped fit's return by up to a second. The other backends get the rows
    (xor) or the generator (sine-relu: a short batch ends each epoch) as they are."""
    seen = []
    fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda model, x, **kw: seen.append(x) or fit(model, x, **kw))
    task = tasks.get(name)
    impl_keras.train(task, task.init_params("float64"), 40)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        assert seen and all(
            isinstance(x, tf.data.Dataset) and x.options().autotune.enabled is False for x in seen
        )
    else:
        assert seen and all(isinstance(x, np.ndarray if name == "xor" else types.GeneratorType) for x in seen)


def test_adam_epsilon_hat_gap_on_softmax():
    """Keras's Adam (ε̂ = 1e-7 beside √v) against the torch/optax form (ε = 1e-8 beside √v̂): a real
    difference of formula, far outside the tolerance, while the keras form matches (test above)."""
    task = tasks.get("softmax")
    gap = trajectory_diffs(impl_keras, task, "float64")["params"]
    record(NAME, "float64", "adam ε̂ vs torch-form gap", gap)
    assert gap > 1e3 * tolerances.TRAJECTORY["float64"]


def test_history_is_per_step_not_an_epoch_mean():
    """history["loss"] has one loss per step, each the loss before that step's update."""
    task = tasks.get("line")
    params = task.init_params()
    _, history = impl_keras.train(task, params, steps=40)  # 31 batches of 32, one of 8, then 8 more
    x, y = task.data()
    rows = list(task.batches(1))[0]
    first, _ = impl_keras.loss_and_grads(task, params, x[rows], y[rows])
    assert len(history["loss"]) == 40 and history["loss"][0] == pytest.approx(first, rel=1e-14)
    assert len(set(history["loss"].tolist())) == 40


# ---- the check can fail ----


def test_the_check_catches_keras_defaults(monkeypatch):
    """Keras's default LeakyReLU slope (0.3) instead of the task's α is caught."""
    task = tasks.make((3, 4, 2), ("leaky_relu", "linear"), "mse", seed=3)
    monkeypatch.setattr(impl_keras.mlp, "alpha_layers", lambda spec: [keras.layers.LeakyReLU()])
    diffs = forward_diffs(impl_keras, task, off_kink_params(task), "float64")
    assert diffs["forward"] > 1e-3


def test_the_check_catches_shuffled_batches(monkeypatch):
    """fit's default order (shuffled batches) instead of the task's is caught."""
    train = importlib.import_module("impl_keras.train")
    schedule = train.schedule

    class Swapped:  # the task, with steps 2k and 2k + 1 in each other's place
        def __init__(self, task):
            self.task = task

        def __getattr__(self, name):
            return getattr(self.task, name)

        def batches(self, steps):
            rows = self.task.batches(steps)
            return [rows[k ^ 1] for k in range(len(rows))]

    monkeypatch.setattr(train, "schedule", lambda task, *args: schedule(Swapped(task), *args))
    diffs = trajectory_diffs(impl_keras, tasks.get("sine-relu"), "float64", steps=20)
    assert diffs["loss_history"] > 1e-3


def build_then(change):
    """mlp.build followed by change(model): a wrong weight load, as a broken set_weights would do."""
    real_build = impl_keras.mlp.build

    def build(task, params):
        model = real_build(task, params)
        change(model)
        return model

    return build


def test_the_check_catches_lstm_gate_blocks_out_of_order(monkeypatch):
    """lstm: gate blocks i and f swapped in the kernel, the recurrent kernel and the bias."""
    task = tasks.get("lstm")

    def swap_i_f(model):
        cell = model.get_layer("0").cell
        for v in (cell.kernel, cell.recurrent_kernel, cell.bias):
            i, f, g, o = np.split(ops.convert_to_numpy(v), 4, axis=-1)
            v.assign(np.concatenate([f, i, g, o], axis=-1))

    monkeypatch.setattr(impl_keras.mlp, "build", build_then(swap_i_f))
    diffs = forward_diffs(impl_keras, task, task.init_params(), "float64")
    assert min(diffs.values()) > 1e-3, diffs


def test_the_check_catches_swapped_gru_bias_rows(monkeypatch):
    """gru: the input and recurrent bias rows b[0], b[1] loaded the wrong way round. The catalog's zero
    biases hide it (forward, gradients and the trajectory all match); random biases do not."""
    task = tasks.get("gru")

    def swap_rows(model):
        bias = model.get_layer("0").cell.bias
        bias.assign(ops.convert_to_numpy(bias)[::-1])

    monkeypatch.setattr(impl_keras.mlp, "build", build_then(swap_rows))
    hidden = forward_diffs(impl_keras, task, task.init_params(), "float64")
    assert max(hidden.values()) <= tolerances.FORWARD["float64"], hidden
    diffs = forward_diffs(impl_keras, task, off_kink_params(task), "float64")
    assert diffs["forward"] > 1e-3 and diffs["grads"] > 1e-3, diffs


# ---- the transformer's conversions, each broken once (the task's float64 weights) ----


def transformer_diffs():
    task = tasks.get("transformer")
    return forward_diffs(impl_keras, task, task.init_params(), "float64")


def test_the_check_catches_a_head_split_the_wrong_way(monkeypatch):
    """Wq, Wk, Wv, Wo split as (E, d, h) (head j in every h-th column) instead of (E, h, d)."""
    native = impl_keras.transformer.attention_native

    def wrong_split(layer, weights):
        out = native(layer, weights)
        for p in "qkv":
            e, h, d = out[f"W{p}"].shape
            out[f"W{p}"] = weights[f"W{p}"].reshape(e, d, h).transpose(0, 2, 1)
        return out

    monkeypatch.setattr(impl_keras.transformer, "attention_native", wrong_split)
    diffs = transformer_diffs()
    assert diffs["forward"] > 0.1 and diffs["grads"] > 0.1, diffs


def test_the_check_catches_query_and_key_kernels_swapped(monkeypatch):
    native = impl_keras.transformer.attention_native

    def swapped(layer, weights):
        return native(layer, {**weights, "Wq": weights["Wk"], "Wk": weights["Wq"]})

    monkeypatch.setattr(impl_keras.transformer, "attention_native", swapped)
    diffs = transformer_diffs()
    assert diffs["forward"] > 0.1 and diffs["grads"] > 0.1, diffs


def test_the_check_catches_the_output_kernel_transposed(monkeypatch):
    """Wo (E, E) loaded as Woᵀ: square, so it loads without a word."""
    native = impl_keras.transformer.attention_native
    monkeypatch.setattr(impl_keras.transformer, "attention_native",
                        lambda layer, weights: native(layer, {**weights, "Wo": weights["Wo"].T}))  # fmt: skip
    diffs = transformer_diffs()
    assert diffs["forward"] > 0.1 and diffs["grads"] > 0.1, diffs


def test_the_check_catches_attention_without_its_causal_mask(monkeypatch):
    call = impl_keras.mlp.call

    def unmasked(spec, layers, tensor, built):
        unmasked_spec = replace(spec, causal=False) if isinstance(spec, tasks.MultiHeadAttention) else spec
        return call(unmasked_spec, layers, tensor, built)

    monkeypatch.setattr(impl_keras.mlp, "call", unmasked)
    diffs = transformer_diffs()
    assert diffs["forward"] > 0.1 and diffs["grads"] > 0.1, diffs


def test_the_check_catches_an_untied_output_projection(monkeypatch):
    """The head as a second table holding a copy of E: the same forward and loss, but E's gradient
    misses the head's share (and the copy's gradient is no canonical weight's)."""

    def untied(embedding_layer, h):
        copy = keras.layers.ReversibleEmbedding(embedding_layer.input_dim, embedding_layer.output_dim)
        logits = copy(h, reverse=True)
        copy.embeddings.assign(embedding_layer.embeddings)  # E is loaded: its node came first
        return logits

    monkeypatch.setattr(impl_keras.transformer, "tied_output", untied)
    diffs = transformer_diffs()
    assert max(diffs["forward"], diffs["loss"]) <= tolerances.FORWARD["float64"], diffs
    assert diffs["grads"] > 1e-3, diffs
