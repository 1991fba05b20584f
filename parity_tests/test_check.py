"""rosetta.check on correct ports and on ports with one classic bug planted, in several framework pairs.

Keras runs on the backend of the process (KERAS_BACKEND); `make test` runs this file on all three."""

import itertools
import json

import numpy as np
import pytest

import rosetta
from parity_tests.ports import build, build_layers, data, layer_data, weights

FRAMEWORKS = ("torch", "keras", "flax", "canonical")
PAIRS = list(itertools.permutations(FRAMEWORKS, 2))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fa,fb", PAIRS)
def test_a_correct_port_is_ok_forward(fa, fb, dtype):
    x, _ = data()
    report = rosetta.check(build(fa, dtype), build(fb, dtype), x.astype(dtype))
    assert report.ok, str(report)
    assert report.first is None and report.hints == []
    assert [row["weights"] for row in report.blocks] == ["equal"] * 3


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fa,fb", PAIRS)
def test_a_correct_port_is_ok_with_loss_and_gradients(fa, fb, dtype):
    x, y = data()
    a, b = build(fa, dtype, head=None), build(fb, dtype, head=None)
    report = rosetta.check(a, b, x.astype(dtype), y, loss="softmax_ce")
    assert report.ok, str(report)
    assert report.hints == [] and report.loss["rel"] <= report.tolerance["gradient"]
    assert all(row["grad"] <= report.tolerance["gradient"] for row in report.blocks)
    assert set(report.to_dict()) >= {"ok", "first", "hints", "blocks", "loss"}


def kinds(report):
    return [hint.kind for hint in report.hints]


def where(report):
    d = report.first
    return d.stage, d.block, d.part


@pytest.mark.parametrize("fa,fb", [("keras", "torch"), ("flax", "torch"), ("torch", "canonical")])
def test_a_square_layer_copied_without_its_transpose(fa, fb):
    x, _ = data()
    report = rosetta.check(build(fa), build(fb, bug="transpose"), x)
    assert not report.ok and where(report) == ("weights", 1, "linear")
    assert [row["weights"] for row in report.blocks] == ["equal", "transposed", "equal"]
    assert kinds(report) == ["transpose"]


@pytest.mark.parametrize("fa,fb", [("keras", "torch"), ("canonical", "flax")])
def test_missing_bias(fa, fb):
    x, _ = data()
    report = rosetta.check(build(fa), build(fb, bug="missing-bias"), x)
    assert where(report) == ("structure", 0, "linear") and kinds(report) == ["missing-bias"]


@pytest.mark.parametrize("fa,fb", [("torch", "keras"), ("flax", "canonical")])
def test_a_different_activation(fa, fb):
    x, _ = data()
    report = rosetta.check(build(fa), build(fb, act="relu"), x)
    assert where(report) == ("structure", 0, "activation") and "activation" in kinds(report)


@pytest.mark.parametrize(
    "fa,fb,slope", [("torch", "keras", 0.3), ("torch", "flax", 0.2), ("canonical", "keras", 0.3)]
)
def test_a_leaky_relu_slope(fa, fb, slope):
    x, _ = data()
    report = rosetta.check(build(fa), build(fb, slope=slope), x)
    assert where(report) == ("forward", 0, "activation") and kinds(report) == ["activation-slope"]
    assert "0.01" in report.hints[0].message and f"{slope:g}" in report.hints[0].message


def cross_entropy(framework, reduction="mean", from_logits=True):
    """Each framework's own softmax cross-entropy on integer labels."""
    if framework == "torch":
        from torch import nn

        return nn.CrossEntropyLoss(reduction=reduction)
    if framework == "keras":
        import keras

        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=from_logits, reduction="sum" if reduction == "sum" else "sum_over_batch_size"
        )
    if framework == "flax":
        import optax

        def loss(out, y):
            per_row = optax.softmax_cross_entropy_with_integer_labels(out, y)  # optax: per example
            return per_row.sum() if reduction == "sum" else per_row.mean()

        return loss
    return "softmax_ce"


@pytest.mark.parametrize("fa,fb", [("keras", "torch"), ("keras", "flax")])
def test_softmax_in_the_model_and_again_in_the_loss(fa, fb):
    x, y = data()
    loss = (cross_entropy(fa, from_logits=False), cross_entropy(fb))  # b's loss takes logits
    report = rosetta.check(build(fa), build(fb), x, y, loss=loss)
    assert where(report) == ("loss", None, None) and kinds(report) == ["double-activation"]


@pytest.mark.parametrize("fa,fb", [("torch", "keras"), ("flax", "keras")])
def test_probabilities_fed_to_a_from_logits_loss(fa, fb):
    x, y = data()
    report = rosetta.check(build(fa, head=None), build(fb), x, y, loss=(cross_entropy(fa), cross_entropy(fb)))
    assert where(report) == ("structure", 2, "activation")
    assert kinds(report) == ["activation", "probabilities-as-logits"]


@pytest.mark.parametrize("fa,fb", [("torch", "keras"), ("flax", "canonical"), ("keras", "torch")])
def test_sum_instead_of_mean(fa, fb):
    x, y = data()
    loss = (cross_entropy(fa, "sum"), cross_entropy(fb))
    report = rosetta.check(build(fa, head=None), build(fb, head=None), x, y, loss=loss)
    assert where(report) == ("loss", None, None) and kinds(report) == ["loss-reduction"]
    assert "N = 16" in report.hints[0].message


@pytest.mark.parametrize("fa,fb", [("torch", "canonical"), ("flax", "torch")])
def test_float32_against_float64_uses_float32_tolerances_and_says_why(fa, fb):
    x, y = data()
    a, b = build(fa, "float32", head=None), build(fb, "float64", head=None)
    report = rosetta.check(a, b, x, y, loss="softmax_ce")
    assert report.ok and report.dtype == "float32" and kinds(report) == ["dtype"]
    assert any("differ in dtype" in note for note in report.notes)


# ---- optimizer steps ----


def torch_sgd(lr_drop=True, **kw):
    import torch

    def factory(params):  # MultiStepLR([2]): lr 0.1 for steps 1–2, 0.01 from step 3 on
        sgd = torch.optim.SGD(params, lr=0.1, momentum=0.9, **kw)
        return (sgd, torch.optim.lr_scheduler.MultiStepLR(sgd, [2], 0.1)) if lr_drop else sgd

    return factory


def keras_sgd(lr_drop=True, **kw):
    import keras

    lr = (
        keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.1, 0.01]) if lr_drop else 0.1
    )  # iterations 0, 1
    return keras.optimizers.SGD(lr, momentum=0.9, **kw)


def steps(fa, fb, optimizers, k, scale=1.0, dtype="float64"):
    x, y = data()
    a, b = build(fa, dtype, head=None), build(fb, dtype, head=None)
    loss = (cross_entropy(fa), cross_entropy(fb))
    return rosetta.check(a, b, scale * x.astype(dtype), y, loss=loss, optimizer=optimizers, steps=k)


def test_torch_adam_against_keras_adam_is_the_epsilon_form():
    import keras
    import torch

    # inputs of 1e-4: first-layer gradients ~1e-5, where ε (1e-8) and Keras's ε̂ (1e-7/√(1−β2ᵗ)) differ most
    optimizers = (lambda p: torch.optim.Adam(p, lr=1e-2), keras.optimizers.Adam(1e-2))
    report = steps("torch", "keras", optimizers, 5, scale=1e-4)
    assert report.first.stage == "step" and report.first.step <= 2 and kinds(report) == ["adam-epsilon"]


def test_canonical_adam_against_keras_adam_is_the_epsilon_form():
    import keras

    from rosetta.tasks import Optimizer

    optimizers = (keras.optimizers.Adam(1e-2), Optimizer("adam", lr=1e-2))
    report = steps("keras", "canonical", optimizers, 5, scale=1e-4)
    assert report.first.stage == "step" and report.first.step <= 2 and kinds(report) == ["adam-epsilon"]


@pytest.mark.parametrize("fa,fb", [("torch", "keras"), ("keras", "canonical")])
def test_momentum_under_a_learning_rate_drop(fa, fb):
    from rosetta.tasks import Optimizer

    canonical = Optimizer("sgd", lr=0.1, momentum=0.9, lr_drops=((2, 0.01),))
    make = {"torch": torch_sgd(), "keras": keras_sgd(), "canonical": canonical}
    report = steps(fa, fb, (make[fa], make[fb]), 5)
    assert report.first.stage == "step" and report.first.step == 3, str(report)
    assert kinds(report) == ["momentum-form"]


def test_weight_decay_coupled_in_torch_against_decoupled_in_keras():
    import keras
    import torch

    report = steps(
        "torch", "keras", (torch_sgd(False, weight_decay=0.01), keras_sgd(False, weight_decay=0.01)), 5
    )
    assert (report.first.stage, report.first.step) == ("step", 2) and kinds(report) == ["weight-decay"]
    optimizers = (
        keras.optimizers.AdamW(1e-2, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, 1e-2, weight_decay=0.1),
    )
    assert kinds(steps("keras", "torch", optimizers, 5)) == ["weight-decay"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_correct_optimizers_keras_torch_flax_canonical_stay_together_for_20_steps(dtype):
    import keras
    import optax
    import torch

    from rosetta.tasks import Optimizer

    keras_adam = Optimizer("adam", lr=1e-2, eps=1e-7, form="keras")
    drop = Optimizer("sgd", lr=0.1, momentum=0.9, lr_drops=((2, 0.01),))
    pairs = [
        ("torch", "flax", (lambda p: torch.optim.Adam(p, lr=1e-2), optax.adam(1e-2))),
        ("keras", "canonical", (keras.optimizers.Adam(1e-2), keras_adam)),
        ("torch", "canonical", (torch_sgd(), drop)),
        ("keras", "canonical", (keras_sgd(), drop.__class__(**{**vars(drop), "form": "keras"}))),
        ("torch", "keras", (torch_sgd(False), keras_sgd(False))),
    ]
    for fa, fb, optimizers in pairs if dtype == "float64" else pairs[:2]:  # float32: the two Adams
        report = steps(fa, fb, optimizers, 20, dtype=dtype)
        assert report.ok and len(report.steps) == 20 and report.hints == [], f"{fa}-{fb}\n{report}"


# ---- inference mode and normalization ----


def with_dropout(framework, model):
    """The model with Dropout(0.5) after the first activation, left active as a training run leaves it."""
    if framework == "torch":
        from torch import nn

        return nn.Sequential(*list(model)[:2], nn.Dropout(0.5), *list(model)[2:]).train()
    from flax import nnx

    return nnx.Sequential(*model.layers[:2], nnx.Dropout(0.5, rngs=nnx.Rngs(1)), *model.layers[2:])


@pytest.mark.parametrize("fa,fb", [("torch", "keras"), ("flax", "torch")])
def test_dropout_left_active_is_named_and_compared_in_inference_mode(fa, fb):
    x, _ = data()
    a = with_dropout(fa, build(fa))
    report = rosetta.check(a, build(fb), x)
    assert report.ok and kinds(report) == ["dropout-active"] and report.hints[0].block == 0
    assert any("training mode" in note or "Dropout left active" in note for note in report.notes)
    assert a.training if fa == "torch" else not a.layers[2].deterministic  # the user's model as it was


GAMMA, BETA = np.linspace(0.5, 1.5, 7), np.linspace(-0.2, 0.2, 7)
MEAN, VAR = np.linspace(-0.1, 0.1, 7), np.linspace(1e-3, 3e-3, 7)  # small variances: ε shows


def batchnorm_model(framework, eps, momentum=None):
    """Linear(5→7) → BatchNorm(7) → relu → Linear(7→3) in `framework`, with running statistics;
    `momentum` as that framework writes it (default: torch's 0.1, Keras's and Flax's 0.9, the same)."""
    params = weights()
    output = {"W": params[1]["W"][:, :3], "b": params[1]["b"][:3]}
    build_model = {"torch": torch_batchnorm, "keras": keras_batchnorm, "flax": flax_batchnorm}[framework]
    return build_model(eps, output, momentum or {"torch": 0.1}.get(framework, 0.9))


def torch_batchnorm(eps, output, momentum):
    from torch import nn

    model = build("torch", head=None)
    bn = nn.BatchNorm1d(7, eps=eps, momentum=momentum, dtype=model[0].weight.dtype)
    stats = {
        "running_mean": tensor(MEAN),
        "running_var": tensor(VAR),
        "num_batches_tracked": tensor(np.array(0)),
    }
    bn.load_state_dict({"weight": tensor(GAMMA), "bias": tensor(BETA)} | stats)
    out = nn.Linear(7, 3, dtype=bn.weight.dtype)
    out.load_state_dict({"weight": tensor(output["W"].T), "bias": tensor(output["b"])})
    return nn.Sequential(model[0], bn, nn.ReLU(), out).eval()


def keras_batchnorm(eps, output, momentum):
    import keras

    layers = [
        keras.layers.Dense(7),
        keras.layers.BatchNormalization(epsilon=eps, momentum=momentum),
        keras.layers.ReLU(),
    ]
    model = keras.Sequential([keras.Input((5,)), *layers, keras.layers.Dense(3)])
    first = weights()[0]
    model.set_weights([first["W"], first["b"], GAMMA, BETA, MEAN, VAR, output["W"], output["b"]])
    return model


def flax_batchnorm(eps, output, momentum):
    import jax.numpy as jnp
    from flax import nnx

    model = build("flax", head=None)
    bn = nnx.BatchNorm(
        7, epsilon=eps, momentum=momentum, dtype=jnp.float64, param_dtype=jnp.float64, rngs=nnx.Rngs(0)
    )
    bn.scale[...], bn.bias[...] = jnp.asarray(GAMMA), jnp.asarray(BETA)
    bn.mean, bn.var = nnx.BatchStat(jnp.asarray(MEAN)), nnx.BatchStat(jnp.asarray(VAR))  # NNX's are float32
    out = nnx.Linear(7, 3, dtype=jnp.float64, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
    out.kernel[...], out.bias[...] = jnp.asarray(output["W"]), jnp.asarray(output["b"])
    return nnx.Sequential(model.layers[0], bn, nnx.relu, out)


def tensor(a):
    import torch

    return torch.from_numpy(np.asarray(a))


@pytest.mark.parametrize("fa,fb", [("torch", "keras"), ("flax", "keras"), ("torch", "flax")])
def test_batchnorm_epsilon(fa, fb):
    x, _ = data()
    assert rosetta.check(batchnorm_model(fa, 1e-5), batchnorm_model(fb, 1e-5), x).ok
    report = rosetta.check(batchnorm_model(fa, 1e-5), batchnorm_model(fb, 1e-3), x)
    assert where(report) == ("forward", 1, "linear") and kinds(report) == ["batchnorm-epsilon"]


def found(report):
    """The hints but `dtype`: the Keras builder is float32, the others float64."""
    return [kind for kind in kinds(report) if kind != "dtype"]


def running_mean(framework, model):
    bn = model[1] if framework == "torch" else model.layers[1]
    stat = {"torch": lambda: bn.running_mean, "keras": lambda: bn.moving_mean, "flax": lambda: bn.mean[...]}
    return np.array(stat[framework]())


@pytest.mark.parametrize(
    "fa,ma,fb,mb", [("torch", 0.99, "keras", 0.99), ("flax", 0.1, "torch", 0.1), ("keras", 0.9, "flax", 0.1)]
)
def test_batchnorm_momentum_keras_torch_flax(fa, ma, fb, mb):
    """B's momentum written in the other framework's convention (Keras/Flax m = 1 − torch's m)."""
    x, _ = data()
    a, b = batchnorm_model(fa, 1e-5, ma), batchnorm_model(fb, 1e-5, mb)
    means = [running_mean(f, m) for f, m in ((fa, a), (fb, b))]
    report = rosetta.check(a, b, x)
    assert where(report) == ("weights", 1, "linear") and found(report) == ["batchnorm-momentum"]
    assert report.hints[0].block == 1 and f"momentum={1 - mb:g}" in report.hints[0].message
    for f, m, mean in zip((fa, fb), (a, b), means):  # the user's models as they were
        assert np.array_equal(running_mean(f, m), mean) and (f != "torch" or not m.training)


@pytest.mark.parametrize(
    "fa,ma,fb,mb",
    [("torch", 0.1, "keras", 0.9), ("keras", 0.99, "flax", 0.99), ("flax", 0.99, "torch", 0.01)],
)
def test_batchnorm_equal_momentum_keras_torch_flax_is_ok(fa, ma, fb, mb):
    x, _ = data()
    report = rosetta.check(batchnorm_model(fa, 1e-5, ma), batchnorm_model(fb, 1e-5, mb), x)
    assert report.ok and found(report) == [], str(report)
    assert report.blocks[1]["running_mean"] <= report.tolerance["forward"]


def test_batchnorm_default_momenta_torch_keras_differ():
    """torch's default 0.1 is Keras's 0.9, not Keras's default 0.99: named, with the value to write."""
    x, _ = data()
    report = rosetta.check(batchnorm_model("torch", 1e-5), batchnorm_model("keras", 1e-5, 0.99), x)
    assert where(report) == ("weights", 1, "linear") and found(report) == ["batchnorm-momentum"]
    assert "keras" in report.hints[0].message and "momentum=0.9 " in report.hints[0].message


def test_a_block_count_mismatch_keras_torch_and_an_unsupported_layer_stop_before_any_number():
    from torch import nn

    x, _ = data()
    shorter = nn.Sequential(*list(build("torch"))[:4])  # two blocks of three
    report = rosetta.check(build("keras"), shorter, x)
    assert where(report) == ("structure", 2, "linear") and "3 blocks vs 2" in report.first.message
    assert all("pre" not in row for row in report.blocks) and report.hints == []
    assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["first"]["value"] is None
    with pytest.raises(ValueError, match="not supported yet: Conv3d"):
        rosetta.check(nn.Sequential(nn.Conv3d(1, 1, 1)), build("torch"), x)


# ---- Conv2D, pooling, Flatten, LSTM, GRU: torch, Keras and canonical (Flax refused, not yet) ----

LAYER_PAIRS = [("keras", "torch"), ("torch", "canonical"), ("canonical", "keras")]  # each side A and B once


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["cnn", "lstm", "gru"])
@pytest.mark.parametrize("fa,fb", LAYER_PAIRS)
def test_a_correct_cnn_lstm_gru_port_is_ok_with_loss_and_gradients(fa, fb, kind, dtype):
    x, y = (a.astype(dtype) for a in layer_data(kind))
    a, b = build_layers(fa, kind, dtype), build_layers(fb, kind, dtype)
    report = rosetta.check(a, b, x, y, loss="mse")
    assert report.ok, str(report)
    assert report.hints == [] and [row["weights"] for row in report.blocks] == ["equal"] * len(report.blocks)
    assert all(row["grad"] <= report.tolerance["gradient"] for row in report.blocks)


@pytest.mark.parametrize("fb,dtype", [("canonical", "float64"), ("keras", "float32")])
@pytest.mark.parametrize("kind", ["cnn", "lstm", "gru"])
def test_cnn_lstm_gru_torch_sgd_steps_stay_with_canonical_and_keras(kind, fb, dtype):
    """float32 against Keras: its optimizer keeps the learning rate as a float32 variable."""
    import keras
    import torch

    from rosetta.tasks import Optimizer

    x, y = (a.astype(dtype) for a in layer_data(kind))
    other = Optimizer("sgd", lr=0.1, momentum=0.9) if fb == "canonical" else keras.optimizers.SGD(0.1, 0.9)
    optimizers = (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), other)
    a, b = build_layers("torch", kind, dtype), build_layers(fb, kind, dtype)
    report = rosetta.check(a, b, x, y, loss="mse", optimizer=optimizers, steps=3)
    assert report.ok, str(report)  # the frozen bias_hh of torch's LSTM moves no second copy of b
    assert len(report.steps) == 3


def test_a_trainable_zero_bias_hh_diverges_at_the_first_step():
    import torch

    from rosetta.tasks import Optimizer

    x, y = layer_data("lstm")
    a, b = build_layers("torch", "lstm", bug="trainable-bias-hh"), build_layers("canonical", "lstm")
    optimizers = (lambda p: torch.optim.SGD(p, lr=0.1), Optimizer("sgd", lr=0.1))
    report = rosetta.check(a, b, x, y, loss="mse", optimizer=optimizers, steps=2)
    assert all(row["grad"] <= report.tolerance["gradient"] for row in report.blocks)  # d/db agrees
    assert (report.first.stage, report.first.block, report.first.step) == ("step", 0, 1)


HINTS = [
    ("cnn", "flatten-order", 2, "flatten-order"),
    ("cnn", "conv-kernel", 1, "conv-kernel"),
    ("lstm", "gate-order", 0, "gate-order"),
    ("gru", "gate-order", 0, "gate-order"),
    ("lstm", "double-bias", 0, "lstm-double-bias"),
    ("lstm", "double-bias-copied", 0, "lstm-double-bias"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fa", ["keras", "canonical"])
@pytest.mark.parametrize("kind,bug,block,hint", HINTS)
def test_a_layout_bug_in_torch_is_found_at_its_block_and_named(fa, kind, bug, block, hint, dtype):
    x, _ = layer_data(kind)
    report = rosetta.check(
        build_layers(fa, kind, dtype), build_layers("torch", kind, dtype, bug=bug), x.astype(dtype)
    )
    assert where(report) == ("weights", block, "linear"), str(report)
    assert [(h.kind, h.block) for h in report.hints] == [(hint, block)], str(report)
    assert report.blocks[block]["pre"] > report.tolerance["forward"]


def test_the_double_bias_is_named_on_the_torch_side_when_torch_is_the_first_model():
    x, _ = layer_data("lstm")
    report = rosetta.check(build_layers("torch", "lstm", bug="double-bias"), build_layers("keras", "lstm"), x)
    assert kinds(report) == ["lstm-double-bias"] and report.hints[0].message.startswith("torch's nn.LSTM")


def test_the_gru_hint_names_torchs_order():
    x, _ = layer_data("gru")
    report = rosetta.check(build_layers("keras", "gru"), build_layers("torch", "gru", bug="gate-order"), x)
    assert "holds its gate blocks as r, z, h" in report.hints[0].message


def test_images_must_be_nhwc_and_sequences_n_t_f():
    x, _ = layer_data("cnn")
    with pytest.raises(rosetta.portcheck.InputError, match=r"\(N, H, W, 2\): NHWC"):
        rosetta.check(build_layers("keras", "cnn"), build_layers("torch", "cnn"), x.transpose(0, 3, 1, 2))
    with pytest.raises(rosetta.portcheck.InputError, match=r"\(N, T, 3\)"):
        rosetta.check(build_layers("keras", "lstm"), build_layers("torch", "lstm"), x[:, 0])


def test_recurrent_forms_other_than_the_canonical_are_refused_before_any_number():
    import keras
    from torch import nn

    x, _ = layer_data("gru")
    refusals = [
        (
            keras.Sequential([keras.Input((5, 3)), keras.layers.GRU(4, reset_after=False)]),
            "reset_after=False",
        ),
        (keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, return_state=True)]), "return_state"),
        (keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, go_backwards=True)]), "go_backwards"),
        (nn.Sequential(nn.LSTM(3, 4)), "batch_first=True"),
        (nn.Sequential(nn.LSTM(3, 4, batch_first=True, proj_size=2)), "batch_first=True, bias=True"),
    ]
    for model, message in refusals:
        with pytest.raises(ValueError, match=message):
            rosetta.check(model, build_layers("keras", "gru"), x)


def test_flax_layers_the_check_does_not_compare_are_refused_at_once_with_a_clear_message():
    from flax import nnx

    x, _ = layer_data("cnn")
    model = nnx.Sequential(
        nnx.Conv(2, 4, (3, 3), kernel_dilation=2, rngs=nnx.Rngs(0)),
        nnx.relu,
        nnx.RNN(nnx.SimpleCell(4, 2, rngs=nnx.Rngs(0))),
        nnx.Einsum("ab,bc->ac", (4, 2), rngs=nnx.Rngs(0)),
    )
    with pytest.raises(
        ValueError,
        match=r"not supported yet: Flax Conv other than .* \(layers.0\), "
        r"Flax RNN other than .* \(layers.2\), Flax Einsum \(layers.3\)$",
    ):
        rosetta.check(model, build_layers("keras", "cnn"), x)


def test_torch_padding_1_for_tensorflows_stride_2_same_is_found_at_its_block_and_other_pooling_is_structure():
    from torch import nn

    x, _ = layer_data("cnn")
    modules = list(build_layers("torch", "cnn"))
    modules[3].padding = (1, 1)  # both sides, where TensorFlow pads only bottom/right: (0, 1)
    report = rosetta.check(build_layers("keras", "cnn"), nn.Sequential(*modules[:2], *modules[3:]), x)
    assert where(report) == ("forward", 1, "linear") and report.hints == []
    modules = list(build_layers("torch", "cnn"))
    modules[5] = nn.AvgPool2d(2)
    report = rosetta.check(build_layers("keras", "cnn"), nn.Sequential(*modules), x)
    assert where(report) == ("structure", 1, "activation") and "pooling" in report.first.message
    modules[2] = nn.Identity()  # no ZeroPad2d: 3×3 where the Linear takes 2×2
    with pytest.raises(ValueError, match=r"the torch model does not run on x permuted from NHWC to NCHW"):
        rosetta.check(build_layers("keras", "cnn"), nn.Sequential(*modules[:2], *modules[3:]), x)


@pytest.mark.parametrize("kind,bug,block", [("cnn", "flatten-order", 2), ("gru", "gate-order", 0)])
def test_the_same_bugs_in_a_keras_port_of_a_torch_model_are_named(kind, bug, block):
    x, _ = layer_data(kind)
    report = rosetta.check(build_layers("torch", kind), build_layers("keras", kind, bug=bug), x)
    assert where(report) == ("weights", block, "linear")
    assert [(h.kind, h.block) for h in report.hints] == [(bug, block)], str(report)
