"""rosetta.check on graphs: a torch forward that calls functions, a module called twice, Keras functional
and subclassed models with a residual, and the ports that break them (issue 21's reproductions)."""

import numpy as np
import pytest

import rosetta
from parity_tests.zoo import nnx_kwargs

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
nn = torch.nn

if keras.backend.backend() == "jax":
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 Keras weights on jax need it (else float32)


def where(report):
    d = report.first
    return (d.stage, d.block, d.part) if d else None


def found(report):
    return [hint.kind for hint in report.hints]


def data(n_in=4, n_out=2, dtype="float32"):
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, n_in)).astype(dtype), rng.normal(size=(16, n_out)).astype(dtype)


class FunctionalRelu(nn.Module):
    """pytorch/examples style: the activation is a function call in forward, not a module."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Residual(nn.Module):
    """h = relu(fc1(x)); relu(fc2(h) + x): a skip connection around two layers."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return self.head(torch.relu(self.fc2(h) + x))


class Twice(nn.Module):
    """One nn.Linear applied twice: one parameter, its gradient the sum of both uses."""

    def __init__(self):
        super().__init__()
        self.fc, self.head = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(torch.tanh(self.fc(torch.tanh(self.fc(x)))))


def torch_model(cls, dtype="float32"):
    torch.manual_seed(0)
    return cls().to(getattr(torch, dtype)).eval()


def copy_into(dense, linear):
    """A torch Linear's weights into a Keras Dense: kernel = weight.T."""
    dense.set_weights([linear.weight.detach().numpy().T, linear.bias.detach().numpy()])


def keras_residual(model, residual=True, dtype="float32"):
    """The Keras functional port of Residual (with the skip connection, or forgetting it)."""
    inputs = keras.Input((4,), dtype=dtype)
    d1, d2, head = (keras.layers.Dense(n, dtype=dtype) for n in (4, 4, 2))
    h = keras.layers.ReLU(dtype=dtype)(d1(inputs))
    h = d2(h)
    h = keras.layers.Add(dtype=dtype)([h, inputs]) if residual else h
    port = keras.Model(inputs, head(keras.layers.ReLU(dtype=dtype)(h)))
    for dense, linear in zip((d1, d2, head), (model.fc1, model.fc2, model.head)):
        copy_into(dense, linear)
    return port


class SubclassedResidual(keras.Model):
    """The same port as a Keras subclassed model: the add runs in Python between two layers."""

    def __init__(self, dtype="float32"):
        super().__init__(dtype=dtype)
        self.d1 = keras.layers.Dense(4, activation="relu", dtype=dtype)
        self.d2 = keras.layers.Dense(4, dtype=dtype)
        self.head = keras.layers.Dense(2, dtype=dtype)

    def call(self, x):
        h = self.d2(self.d1(x))
        return self.head(keras.ops.relu(h + x))


def keras_subclassed(model, dtype="float32"):
    port = SubclassedResidual(dtype)
    port(np.zeros((1, 4), dtype))
    for dense, linear in zip((port.d1, port.d2, port.head), (model.fc1, model.fc2, model.head)):
        copy_into(dense, linear)
    return port


def keras_twice(model, dtype="float32"):
    """Twice's Keras port: the shared weights copied into two Dense layers."""
    inputs = keras.Input((4,), dtype=dtype)
    first, second = (keras.layers.Dense(4, activation="tanh", dtype=dtype) for _ in range(2))
    head = keras.layers.Dense(2, dtype=dtype)
    port = keras.Model(inputs, head(second(first(inputs))))
    for dense, linear in ((first, model.fc), (second, model.fc), (head, model.head)):
        copy_into(dense, linear)
    return port


def test_torch_relu_called_as_a_function_against_a_fused_keras_dense_is_ok():
    model = torch_model(FunctionalRelu)
    port = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    copy_into(port.layers[0], model.fc1)
    copy_into(port.layers[1], model.fc2)
    x, y = data()
    for a, b in ((model, port), (port, model)):
        report = rosetta.check(a, b, x, y, loss="mse")
        assert report.ok and report.hints == [], str(report)
        assert "relu" in report.blocks[0]["a"] and "relu" in report.blocks[0]["b"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_linear_called_twice_against_two_keras_denses(dtype):
    """Forward: the same function (a note says the weights are tied on one side only). With a loss, the
    untied copies are a structural difference at the second use, and the hint sums their gradients."""
    model, x, y = torch_model(Twice, dtype), *data(dtype=dtype)
    port = keras_twice(model, dtype)
    report = rosetta.check(model, port, x)
    assert report.ok and any("reuses block 0's weights" in note for note in report.notes), str(report)
    for a, b in ((model, port), (port, model)):
        report = rosetta.check(a, b, x, y, loss="mse")
        assert where(report) == ("structure", 1, "linear") and found(report) == ["untied-weights"], str(
            report
        )
    assert rosetta.check(model, model, x, y, loss="mse").ok


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_keras_functional_residual_port_is_ok_forward_loss_and_steps(dtype):
    import keras as k

    model, (x, y) = torch_model(Residual, dtype), data(dtype=dtype)
    port = keras_residual(model, dtype=dtype)
    optimizer = (lambda p: torch.optim.SGD(p, lr=0.125), k.optimizers.SGD(0.125))
    for (a, b), opt in (((model, port), optimizer), ((port, model), optimizer[::-1])):
        report = rosetta.check(a, b, x, y, loss="mse", optimizer=opt, steps=3)
        assert report.ok and report.hints == [], str(report)
        assert [report.blocks[1][side].lower().count("add(x)") for side in "ab"] == [1, 1]


def test_a_keras_subclassed_port_is_compared_at_its_layer_boundaries():
    model, (x, y) = torch_model(Residual), data()
    report = rosetta.check(model, keras_subclassed(model), x, y, loss="mse")
    assert report.ok and report.hints == [], str(report)
    assert "…" in report.blocks[1]["b"]  # the add and relu ran in Python: not seen, compared at the boundary


def test_a_port_that_forgets_the_residual_is_named_missing_residual_at_its_block():
    model, (x, _) = torch_model(Residual), data()
    port = keras_residual(model, residual=False)
    for a, b in ((model, port), (port, model)):
        report = rosetta.check(a, b, x)
        assert where(report) == ("structure", 1, "activation") and found(report) == ["missing-residual"], str(
            report
        )
    assert not rosetta.check(model, keras_residual(model), x).hints


def test_a_torch_port_that_forgets_the_residual_of_a_keras_model():
    model = torch_model(Residual)

    class Plain(Residual):
        def forward(self, x):
            h = torch.relu(self.fc1(x))
            return self.head(torch.relu(self.fc2(h)))

    plain = torch_model(Plain)
    plain.load_state_dict(model.state_dict())
    x, _ = data()
    report = rosetta.check(keras_residual(model), plain, x)
    assert where(report) == ("structure", 1, "activation") and found(report) == ["missing-residual"], str(
        report
    )
    assert rosetta.check(model, plain, x).hints[0].kind == "missing-residual"


def test_every_unsupported_layer_is_named_at_once_before_any_number():
    model = nn.Sequential(nn.Conv3d(1, 2, 3), nn.Flatten(), nn.Linear(4, 2), nn.Conv2d(3, 2, 2, dilation=2))
    with pytest.raises(ValueError, match=r"not supported yet: Conv3d \(0\), Conv2d with dilation, .* \(3\)$"):
        rosetta.check(model, model, np.zeros((2, 1, 6), "float32"))


SETTINGS_SCRIPT = """
import json, sys
import jax, keras, tensorflow as tf, torch
from flax import nnx
import numpy as np
from rosetta.portcheck.isolation import snapshot
before = [value for _, value in snapshot()]
import rosetta
sys.path.insert(0, "parity_tests")
from ports import build, data
x, y = data()
model = torch.nn.Sequential(torch.nn.Linear(5, 3))
port = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
port.layers[0].set_weights([model[0].weight.detach().numpy().T, model[0].bias.detach().numpy()])
flax = nnx.Sequential(nnx.Linear(5, 3, rngs=nnx.Rngs(0)))
x = x.astype("float32")
for a, b in ((model, port), (port, model), (flax, model)):
    rosetta.check(a, b, x, np.eye(3)[y % 3].astype("float32"), loss="mse")
after = [value for _, value in snapshot()]
print(json.dumps([str(v) for v in before]), json.dumps([str(v) for v in after]), sep="\\n")
"""


def test_a_keras_torch_flax_check_changes_no_setting_of_any_framework():
    """torch (TF32, matmul precision, default dtype), JAX (x64, matmul precision), TensorFlow (TF32),
    Keras (floatx, dtype policy): read in a fresh process before `import rosetta` and after three checks
    with a loss by name, which import impl_torch, impl_keras and impl_jax."""
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", SETTINGS_SCRIPT], capture_output=True, text=True, check=True)
    before, after = (json.loads(line) for line in run.stdout.strip().splitlines()[-2:])
    assert len(before) == 9 and after == before


def flax_residual(model, residual=True):
    """Residual as a Flax NNX module: its add and relu run in __call__, between the submodule calls."""
    import jax.numpy as jnp
    from flax import nnx

    class FlaxResidual(nnx.Module):
        def __init__(self):
            self.fc1, self.fc2, self.head = (nnx.Linear(4, n, rngs=nnx.Rngs(0)) for n in (4, 4, 2))

        def __call__(self, x):
            h = self.fc2(nnx.relu(self.fc1(x)))
            return self.head(nnx.relu(h + x if residual else h))

    port = FlaxResidual()
    for linear, source in ((port.fc1, model.fc1), (port.fc2, model.fc2), (port.head, model.head)):
        linear.kernel[...] = jnp.asarray(source.weight.detach().numpy().T)
        linear.bias[...] = jnp.asarray(source.bias.detach().numpy())
    return port


def test_a_flax_module_port_of_a_residual_torch_model_is_ok_and_its_missing_residual_named():
    import optax

    model, (x, y) = torch_model(Residual), data()
    optimizer = (lambda p: torch.optim.SGD(p, lr=0.125), optax.sgd(0.125))
    report = rosetta.check(model, flax_residual(model), x, y, loss="mse", optimizer=optimizer, steps=3)
    assert report.ok and report.hints == [], str(report)
    for a, b in ((model, flax_residual(model, False)), (flax_residual(model, False), model)):
        report = rosetta.check(a, b, x)
        assert where(report) == ("forward", 1, "activation") and found(report) == ["missing-residual"], str(
            report
        )


class Branches(nn.Module):
    """SqueezeNet's Fire in small: two branches, each through relu, concatenated, then a head."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(4, 3), nn.Linear(4, 3), nn.Linear(6, 2)

    def forward(self, x):
        return self.head(torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], 1))


def hidden_branches(model, side, bug=None):
    """The port with the relus and the concatenation in a Flax `__call__` or a Keras subclassed `call`,
    where the capture cannot see them; `bug="relu"` forgets the first branch's relu."""
    relu_a = (lambda h: h) if bug == "relu" else None
    if side == "flax":
        import jax.numpy as jnp
        from flax import nnx

        class FlaxBranches(nnx.Module):
            def __init__(self):
                self.a, self.b, self.head = (
                    nnx.Linear(n, m, rngs=nnx.Rngs(0)) for n, m in ((4, 3), (4, 3), (6, 2))
                )

            def __call__(self, x):
                return self.head(jnp.concatenate([(relu_a or nnx.relu)(self.a(x)), nnx.relu(self.b(x))], -1))

        port = FlaxBranches()
        for linear, source in ((port.a, model.a), (port.b, model.b), (port.head, model.head)):
            linear.kernel[...], linear.bias[...] = map(jnp.asarray, linear_weights(source))
        return port

    class KerasBranches(keras.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.head = keras.layers.Dense(3), keras.layers.Dense(3), keras.layers.Dense(2)

        def call(self, x):
            ops = keras.ops
            return self.head(ops.concatenate([(relu_a or ops.relu)(self.a(x)), ops.relu(self.b(x))], -1))

    port = KerasBranches()
    port(np.zeros((1, 4), "float32"))
    for dense, source in ((port.a, model.a), (port.b, model.b), (port.head, model.head)):
        dense.set_weights(list(linear_weights(source)))
    return port


@pytest.mark.parametrize("side", ["flax", "keras"])
def test_branches_joined_where_the_capture_cannot_see_are_compared_where_they_meet(side):
    """The first branch's relu and the concatenation are hidden: its block is compared at the Linear's
    output, not read as "no activation" (a false structure divergence and activation hint, once)."""
    model, (x, y) = torch_model(Branches), data()
    report = rosetta.check(model, hidden_branches(model, side), x, y, loss="mse")
    assert report.ok and report.hints == [], str(report)
    report = rosetta.check(model, hidden_branches(model, side, bug="relu"), x)
    assert where(report) == ("forward", 1, "activation"), str(report)


# ---- optimizers: verdicts from the replay, not from a loosened tolerance ----


def mlp_pair(sizes, act, dtype):
    """A torch MLP and its Keras port (Sequential, the same weights)."""
    torch.manual_seed(0)
    layers, denses = [], [keras.Input((sizes[0],), dtype=dtype)]
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, dtype=getattr(torch, dtype)))
        denses.append(keras.layers.Dense(n_out, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.125) if act == "leaky_relu" else nn.Tanh())
            denses.append(
                keras.layers.LeakyReLU(0.125, dtype=dtype)
                if act == "leaky_relu"
                else keras.layers.Activation("tanh", dtype=dtype)
            )
    model, port = nn.Sequential(*layers).eval(), keras.Sequential(denses)
    for dense, linear in zip([d for d in port.layers if isinstance(d, keras.layers.Dense)], layers[::2]):
        copy_into(dense, linear)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], 32)
    return model, port, x, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_adam_against_keras_adam_on_an_exact_leaky_relu_is_named_at_step_1(dtype):
    """LeakyReLU(0.125) is exact in float32: the float64 model is compared at float64 tolerances (the
    gap, ~4e-5, is no rounding); in float32 the steps stay within 1e-4, and the replay still tells the
    two rules apart at step 1."""
    model, port, x, y = mlp_pair([4, 8, 8, 3], "leaky_relu", dtype)
    loss = (nn.CrossEntropyLoss(), keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype))
    optimizer = (lambda p: torch.optim.Adam(p, lr=1e-2), keras.optimizers.Adam(learning_rate=1e-2))
    report = rosetta.check(model, port, x, y, loss=loss, optimizer=optimizer, steps=20)
    loosened = any("computes in float32" in note for note in report.notes)  # keras-torch: its matmuls
    assert report.tolerance["trajectory"] == (1e-4 if dtype == "float32" or loosened else 1e-10), str(report)
    assert not (loosened and keras.backend.backend() == "tensorflow")  # TensorFlow: 0.125 is exact
    assert report.first.stage == "step" and report.first.step == 1, str(report)
    assert found(report) == ["adam-epsilon"], str(report)


def test_keras_momentum_held_in_float32_is_named_hyperparameter_precision():
    """Keras keeps momentum 0.9 as float32 0.899999976 in a float64 model: not ok (~1e-10 apart) with
    the hint; momentum 0.875, exact in float32, is ok (so is the learning rate 0.125; 0.1 is not). Off
    TensorFlow, Keras computes this model in float32 (measured): float32 tolerances, ok."""
    results = {}
    for momentum in (0.9, 0.875):
        model, port, x, y = mlp_pair([4, 8, 3], "tanh", "float64")
        optimizer = (
            lambda p, m=momentum: torch.optim.SGD(p, lr=0.125, momentum=m),
            keras.optimizers.SGD(0.125, momentum=momentum),
        )
        results[momentum] = rosetta.check(model, port, x, y, loss="softmax_ce", optimizer=optimizer, steps=3)
    if keras.backend.backend() != "tensorflow":  # Keras computes this model's tanh/matmul in float32 there
        assert all(r.ok and any("computes in float32" in n for n in r.notes) for r in results.values())
        return
    assert results[0.9].first.stage == "step" and found(results[0.9]) == ["hyperparameter-precision"], str(
        results[0.9]
    )
    assert "0.899999976" in results[0.9].hints[0].message
    assert results[0.875].ok and results[0.875].hints == [], str(results[0.875])


# ---- LayerNorm ε and GELU: the defaults that differ (torch, Keras, Flax NNX) ----


class NormGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.norm, self.act, self.head = nn.Linear(4, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.act(self.norm(self.fc(x))))


def keras_norm_gelu(model, epsilon=1e-5, ops_gelu=False):
    """Keras's LayerNormalization ε is 1e-3 by default (torch's 1e-5); its "gelu" activation is exact,
    keras.ops.gelu (a graph op here) the tanh approximation."""
    inputs = keras.Input((4,))
    fc, norm, head = (
        keras.layers.Dense(8),
        keras.layers.LayerNormalization(epsilon=epsilon),
        keras.layers.Dense(2),
    )
    h = norm(fc(inputs))
    port = keras.Model(inputs, head(keras.ops.gelu(h) if ops_gelu else keras.layers.Activation("gelu")(h)))
    copy_into(fc, model.fc)
    copy_into(head, model.head)
    return port


def flax_norm_gelu(model, gelu):
    """nnx.LayerNorm's ε is 1e-6 by default; nnx.gelu is the tanh approximation unless approximate=False."""
    import jax.numpy as jnp
    from flax import nnx

    fc, head = nnx.Linear(4, 8, rngs=nnx.Rngs(0)), nnx.Linear(8, 2, rngs=nnx.Rngs(0))
    for linear, source in ((fc, model.fc), (head, model.head)):
        linear.kernel[...] = jnp.asarray(source.weight.detach().numpy().T)
        linear.bias[...] = jnp.asarray(source.bias.detach().numpy())
    return nnx.Sequential(fc, nnx.LayerNorm(8, epsilon=1e-5, rngs=nnx.Rngs(0)), gelu, head)


def test_layernorm_epsilon_keras_default_against_torch_is_named_both_ways():
    model, (x, _) = torch_model(NormGelu), data()
    assert rosetta.check(model, keras_norm_gelu(model), x).ok
    for a, b in ((model, keras_norm_gelu(model, 1e-3)), (keras_norm_gelu(model, 1e-3), model)):
        report = rosetta.check(a, b, 3 * x)
        assert where(report) == ("forward", 1, "linear") and found(report) == ["layernorm-epsilon"], str(
            report
        )


def test_gelu_exact_in_torch_against_tanh_in_flax_and_keras_ops_is_named():
    import functools

    from flax import nnx

    model, (x, _) = torch_model(NormGelu), data()
    assert rosetta.check(model, flax_norm_gelu(model, functools.partial(nnx.gelu, approximate=False)), x).ok
    report = rosetta.check(flax_norm_gelu(model, nnx.gelu), model, x)
    assert where(report) == ("structure", 1, "activation") and found(report) == ["gelu-approximate"], str(
        report
    )
    assert "flax's GELU is tanh-approximated" in report.hints[0].message
    report = rosetta.check(model, keras_norm_gelu(model, ops_gelu=True), x)
    assert where(report) == ("structure", 1, "activation") and found(report) == ["gelu-approximate"], str(
        report
    )


def test_a_torch_layer_without_weights_is_read_op_by_op_and_silu_matches_keras():
    """nn.Softplus (no weights, not a layer the check knows) is read through the function it calls and
    compared where it ends; nn.SiLU against Keras's "silu" is the same function."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.SiLU(), nn.Linear(6, 6), nn.Softplus(), nn.Linear(6, 2)).eval()
    x, _ = data()
    report = rosetta.check(model, model, x)
    assert report.ok and "softplus" in report.blocks[1]["a"], str(report)
    port = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(6, activation="silu"), keras.layers.Dense(2)]
    )
    short = nn.Sequential(*model[:2], model[4]).eval()
    short[2] = nn.Linear(6, 2)
    copy_into(port.layers[0], short[0])
    copy_into(port.layers[1], short[2])
    assert rosetta.check(short, port, x).ok


def test_a_keras_or_flax_model_that_does_not_run_on_x_is_one_line():
    from flax import nnx

    port = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    wide = np.zeros((3, 5), "float32")  # a width the Keras model was not built for, passed by a torch model
    bigger = nn.Sequential(nn.Linear(5, 2)).eval()
    with pytest.raises(ValueError, match=r"the models take \(N, 4\)$") as raised:  # the layer it failed in
        rosetta.check(bigger, port, wide)
    assert "\n" not in str(raised.value)
    flax = nnx.Sequential(nnx.Linear(4, 2, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=r"the models take \(N, 4\)$"):
        rosetta.check(bigger, flax, wide)
    tokens = nnx.Sequential(nnx.Embed(3, 4, rngs=nnx.Rngs(0)), nnx.Linear(5, 2, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=r"^the Flax model does not run on x: "):  # no shape explains it
        rosetta.check(nn.Sequential(nn.Embedding(3, 5)), tokens, np.zeros((2, 3), int))


class Encoder(keras.layers.Layer):
    """keras-io's VAE shape: Dense layers inside Layer blocks inside a subclassed Model; Keras lists
    the nested sublayers in another order than they run."""

    def __init__(self, widths, **kwargs):
        super().__init__(**kwargs)
        self.dense_proj, self.dense_out = (
            keras.layers.Dense(widths[0], activation="relu"),
            keras.layers.Dense(widths[1]),
        )

    def call(self, x):
        return self.dense_out(self.dense_proj(x))


class AutoEncoder(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = Encoder((5, 3)), Encoder((5, 6))

    def call(self, x):
        return self.decoder(self.encoder(x))


def test_keras_nested_layers_read_x_where_they_run():
    model = AutoEncoder()
    x, _ = data(6, 6)
    model(x)
    assert rosetta.check(model, model, x).ok
    with pytest.raises(ValueError, match=r"take \(N, 6\)"):
        rosetta.check(model, model, np.zeros((4, 7), "float32"))


def test_keras_float64_against_optax_steps_replay_without_a_learning_rate():
    """optax has no learning rate to read: the hyperparameter-precision replay keeps Keras's own."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    nnx = pytest.importorskip("flax.nnx")
    jax.config.update("jax_enable_x64", True)
    model = keras.Sequential([keras.Input((3,), dtype="float64"), keras.layers.Dense(2, dtype="float64")])
    port = nnx.Linear(3, 2, dtype="float64", param_dtype="float64", rngs=nnx.Rngs(0))
    kernel, bias = model.get_weights()
    port.kernel.value, port.bias.value = jax.numpy.asarray(kernel * 1.01), jax.numpy.asarray(bias)
    x, y = data(3, 2, "float64")
    report = rosetta.check(
        model, port, x, y, loss="mse", optimizer=(keras.optimizers.SGD(0.125), optax.sgd(0.125)), steps=2
    )
    assert where(report) == ("weights", 0, "linear") and report.steps, str(report)


def linear_weights(linear):
    return linear.weight.detach().numpy().T.copy(), linear.bias.detach().numpy().copy()


def keras_port(layers, net, dtype):
    """A Keras Sequential of `layers` holding the torch net's Linear weights (and norm scales) in order."""
    port = keras.Sequential([keras.Input((4,), dtype=dtype), *layers])
    params = [p.detach().numpy() for p in net.parameters()]
    port.set_weights([p.T.copy() if p.ndim == 2 else p for p in params])
    return port


def flax_port(net, dtype, middle):
    """An nnx.Sequential: Linear, `middle` (a function, or a module taking the net's [1] weight), Linear."""
    nnx = pytest.importorskip("flax.nnx")
    jax = pytest.importorskip("jax")
    kw = nnx_kwargs(dtype)
    first, last = net[0], net[-1]
    linears = (
        nnx.Linear(first.in_features, first.out_features, **kw),
        nnx.Linear(last.in_features, last.out_features, **kw),
    )
    for linear, source in zip(linears, (first, last)):
        linear.kernel.value, linear.bias.value = map(jax.numpy.asarray, linear_weights(source))
    if isinstance(middle, nnx.Module):
        middle.scale.value = jax.numpy.asarray(net[1].weight.detach().numpy())
    return nnx.Sequential(linears[0], middle, linears[1])


@pytest.mark.parametrize("side", ["keras", "flax"])
@pytest.mark.parametrize("eps", [1e-6, None])
def test_rmsnorm_ports_and_torch_default_epsilon(side, eps):
    """torch's RMSNorm(eps=None) uses the dtype's machine ε; Keras's and Flax's default is 1e-6."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.RMSNorm(6, eps=eps), nn.Linear(6, 2)).double().eval()
    with torch.no_grad():
        net[0].bias.zero_()  # with small features, the norm's input is small: ε matters
        net[1].weight.uniform_(0.5, 1.5)
    if side == "keras":
        L = keras.layers  # noqa: N806
        port = keras_port(
            [
                L.Dense(6, dtype="float64"),
                L.RMSNormalization(epsilon=1e-6, dtype="float64"),
                L.Dense(2, dtype="float64"),
            ],
            net,
            "float64",
        )
        optimizer = keras.optimizers.SGD(0.125)
    else:
        nnx = pytest.importorskip("flax.nnx")
        optax = pytest.importorskip("optax")
        port = flax_port(
            net,
            "float64",
            nnx.RMSNorm(6, epsilon=1e-6, dtype="float64", param_dtype="float64", rngs=nnx.Rngs(0)),
        )
        optimizer = optax.sgd(0.125)
    x, y = data(4, 2, "float64")
    x = x * 1e-3  # small features: ε matters
    report = rosetta.check(
        net, port, x, y, loss="mse", optimizer=(lambda p: torch.optim.SGD(p, lr=0.125), optimizer), steps=3
    )
    if eps is not None:
        assert report.ok and report.hints == [], str(report)
    else:
        assert where(report) == ("forward", 1, "linear") and found(report) == ["rmsnorm-epsilon"], str(report)


@pytest.mark.parametrize("side", ["keras", "flax"])
def test_a_softmax_over_the_batch_is_named(side):
    """torch's nn.Softmax(dim=0) normalizes over the batch; Keras's and Flax's softmax over the last axis."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=0), nn.Linear(3, 2)).double().eval()
    if side == "keras":
        L = keras.layers  # noqa: N806
        port = keras_port(
            [L.Dense(3, activation="softmax", dtype="float64"), L.Dense(2, dtype="float64")], net, "float64"
        )
    else:
        nnx = pytest.importorskip("flax.nnx")
        port = flax_port(net, "float64", nnx.softmax)
    report = rosetta.check(net, port, data(4, 2, "float64")[0])
    assert where(report) == ("forward", 0, "activation") and found(report) == ["softmax-axis"], str(report)


def upsampler(bug=None, dtype="float64"):
    """torch: Conv2d, relu, ConvTranspose2d(4, 4, 2, stride=2), a 1×1 Conv2d; its Keras port. torch's
    ConvTranspose2d.weight is (in, out, kh, kw), Keras's kernel (kh, kw, out, in): permute(2, 3, 1, 0);
    `bug="conv-transpose-kernel"` permutes it as a Conv2d's (out, in, kh, kw), in and out swapped."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(4, 4, 2, stride=2), nn.Conv2d(4, 1, 1)
    )
    net = net.to(getattr(torch, dtype)).eval()
    L = keras.layers  # noqa: N806
    layers = [
        L.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype),
        L.Conv2DTranspose(4, 2, strides=2, dtype=dtype),
        L.Conv2D(1, 1, dtype=dtype),
    ]
    port = keras.Sequential([keras.Input((4, 4, 1), dtype=dtype), *layers])
    numpy = lambda p: p.detach().numpy().copy()  # noqa: E731
    up = (2, 3, 0, 1) if bug == "conv-transpose-kernel" else (2, 3, 1, 0)
    port.set_weights(
        [numpy(net[0].weight).transpose(2, 3, 1, 0), numpy(net[0].bias)]
        + [numpy(net[2].weight).transpose(up), numpy(net[2].bias)]
        + [numpy(net[3].weight).transpose(2, 3, 1, 0), numpy(net[3].bias)]
    )
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 4, 4, 1)).astype(dtype), rng.normal(size=(4, 8, 8, 1)).astype(dtype)
    return net, port, x, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_keras_conv_transpose_port_is_ok_with_per_pixel_targets(dtype):
    net, port, x, y = upsampler(dtype=dtype)
    optimizers = (lambda p: torch.optim.SGD(p, lr=0.125), keras.optimizers.SGD(0.125))
    report = rosetta.check(net, port, x, y, loss="mse", optimizer=optimizers, steps=3)
    assert report.ok and report.hints == [], str(report)


def test_keras_conv_transpose_kernel_with_in_and_out_swapped_is_named():
    net, port, x, _ = upsampler("conv-transpose-kernel")
    report = rosetta.check(net, port, x)
    assert where(report) == ("weights", 1, "linear") and found(report) == ["conv-transpose-kernel"], str(
        report
    )


class TiedLM(nn.Module):
    """nanoGPT's weight tying: the output layer's weight is the token table (one Parameter, two modules)."""

    def __init__(self, vocab=7, width=4):
        super().__init__()
        self.wte, self.fc = nn.Embedding(vocab, width), nn.Linear(width, width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, tokens):
        return self.lm_head(torch.relu(self.fc(self.wte(tokens))))


def test_a_tied_embedding_and_output_layer_against_an_untied_keras_port():
    """The table (V, E) used again as the output kernel (E, V): forward the same (a note); with a loss,
    the untied Keras copies are a structural difference, their gradients summed (one transposed) torch's."""
    torch.manual_seed(0)
    model = TiedLM().double().eval()
    L = keras.layers  # noqa: N806
    port = keras.Sequential(
        [
            keras.Input((), dtype="int32"),
            L.Embedding(7, 4, dtype="float64"),
            L.Dense(4, activation="relu", dtype="float64"),
            L.Dense(7, use_bias=False, dtype="float64"),
        ]
    )
    table = model.wte.weight.detach().numpy()
    port.set_weights([table, model.fc.weight.detach().numpy().T, model.fc.bias.detach().numpy(), table.T])
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 7, 16), rng.integers(0, 7, 16)
    report = rosetta.check(model, port, x)
    assert report.ok and any("reuses block 0's weights" in note for note in report.notes), str(report)
    report = rosetta.check(model, port, x, y, loss="softmax_ce")
    assert where(report) == ("structure", 2, "linear") and found(report) == ["untied-weights"], str(report)


def flax_lm(model, tied):
    """TiedLM's Flax port: the output layer nnx.Embed.attend (the table, tied) or an nnx.Linear holding
    a copy of it (untied)."""
    jax = pytest.importorskip("jax")
    nnx = pytest.importorskip("flax.nnx")
    kw = nnx_kwargs("float64")

    class Port(nnx.Module):
        def __init__(self):
            self.wte, self.fc = nnx.Embed(7, 4, **kw), nnx.Linear(4, 4, **kw)
            self.lm_head = None if tied else nnx.Linear(4, 7, use_bias=False, **kw)

        def __call__(self, tokens):
            h = nnx.relu(self.fc(self.wte(tokens)))
            return self.wte.attend(h) if tied else self.lm_head(h)

    port, numpy = Port(), lambda p: jax.numpy.asarray(p.detach().numpy())
    port.wte.embedding.value = numpy(model.wte.weight)
    port.fc.kernel.value, port.fc.bias.value = numpy(model.fc.weight).T, numpy(model.fc.bias)
    if not tied:
        port.lm_head.kernel.value = numpy(model.wte.weight).T
    return port


def test_a_tied_embedding_against_a_flax_port_tied_by_attend():
    """nnx.Embed.attend is the table as the output kernel: an anchor tied to the Embed, as torch's
    lm_head is to wte; correct with a loss and steps. Untied, the copies are named."""
    optax = pytest.importorskip("optax")
    torch.manual_seed(0)
    model = TiedLM().double().eval()
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 7, 16), rng.integers(0, 7, 16)
    optimizers = (lambda p: torch.optim.SGD(p, lr=0.125), optax.sgd(0.125))
    report = rosetta.check(
        model, flax_lm(model, True), x, y, loss="softmax_ce", optimizer=optimizers, steps=3
    )
    assert report.ok and report.hints == [] and "Embed.attend" in report.blocks[2]["b"], str(report)
    report = rosetta.check(model, flax_lm(model, False), x, y, loss="softmax_ce")
    assert where(report) == ("structure", 2, "linear") and found(report) == ["untied-weights"], str(report)


def conv1d_net(dtype="float64"):
    """torch reads (N, C, T): Conv1d, relu, MaxPool1d, nn.Flatten (its features (C, T)), Linear."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(12, 2))
    return net.to(getattr(torch, dtype)).eval()


def keras_conv1d_port(net, dtype, bug=None):
    """Keras's Flatten takes (T, C): the Linear's rows reordered from torch's (C, T);
    `bug="flatten-order"` keeps torch's order."""
    L = keras.layers  # noqa: N806
    port = keras.Sequential(
        [
            keras.Input((10, 2), dtype=dtype),
            L.Conv1D(3, 3, activation="relu", dtype=dtype),
            L.MaxPooling1D(2, dtype=dtype),
            L.Flatten(dtype=dtype),
            L.Dense(2, dtype=dtype),
        ]
    )
    numpy = lambda p: p.detach().numpy()  # noqa: E731
    rows = numpy(net[4].weight).T  # (C·T, 2) in (C, T) order, C = 3, T = 4
    rows = rows if bug == "flatten-order" else rows.reshape(3, 4, 2).transpose(1, 0, 2).reshape(12, 2)
    port.set_weights([numpy(net[0].weight).transpose(2, 1, 0), numpy(net[0].bias), rows, numpy(net[4].bias)])
    return port


def flax_conv1d_port(net, dtype):
    jax = pytest.importorskip("jax")
    nnx = pytest.importorskip("flax.nnx")
    kw = nnx_kwargs(dtype)

    class Port(nnx.Module):
        def __init__(self):
            self.conv, self.out = nnx.Conv(2, 3, (3,), padding="VALID", **kw), nnx.Linear(12, 2, **kw)

        def __call__(self, x):
            h = nnx.max_pool(nnx.relu(self.conv(x)), window_shape=(2,), strides=(2,))
            return self.out(h.reshape(len(h), -1))

    port, numpy = Port(), lambda p: jax.numpy.asarray(p.detach().numpy())
    port.conv.kernel.value, port.conv.bias.value = numpy(net[0].weight).transpose(2, 1, 0), numpy(net[0].bias)
    rows = net[4].weight.detach().numpy().T.reshape(3, 4, 2).transpose(1, 0, 2).reshape(12, 2)
    port.out.kernel.value, port.out.bias.value = jax.numpy.asarray(rows), numpy(net[4].bias)
    return port


@pytest.mark.parametrize("side", ["keras", "flax"])
def test_conv1d_ports_read_sequences_channels_last(side):
    """x (N, T, C) for every side; torch's (N, C, T) values and nn.Flatten's (C, T) rows compared in
    the canonical (T, C) order."""
    net = conv1d_net()
    port = keras_conv1d_port(net, "float64") if side == "keras" else flax_conv1d_port(net, "float64")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 10, 2)), rng.normal(size=(8, 2))
    if side == "keras":
        optimizers = (lambda p: torch.optim.SGD(p, lr=0.125), keras.optimizers.SGD(0.125))
    else:
        optimizers = (lambda p: torch.optim.SGD(p, lr=0.125), pytest.importorskip("optax").sgd(0.125))
    report = rosetta.check(net, port, x, y, loss="mse", optimizer=optimizers, steps=3)
    assert report.ok and report.hints == [], str(report)


def test_keras_conv1d_port_with_torch_flatten_order_is_named():
    net = conv1d_net()
    report = rosetta.check(net, keras_conv1d_port(net, "float64", "flatten-order"), np.ones((4, 10, 2)))
    assert where(report)[:2] == ("weights", 1) and found(report) == ["flatten-order"], str(report)


def test_a_float32_gradient_gap_that_the_models_own_rounding_makes_is_no_divergence():
    """x = 1 + 2⁻³⁰ is 1 in float32: w·x − 1 is 0 there (ReLU off) and 2⁻³⁰ in float64 (on), so the
    first sample adds nothing to the first layer's gradient in float32 and does in float64: the float32
    model against its float64 copy differs there far beyond float32's tolerance, exactly as far as its
    own float32 is from its float64. A different weight is still a difference."""
    model = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        (
            model[0].weight.fill_(1.0),
            model[0].bias.fill_(-1.0),
            model[2].weight.fill_(2.0),
            model[2].bias.fill_(0.5),
        )
    import copy

    double = copy.deepcopy(model).double()
    x, y = np.array([[1 + 2.0**-30], [2.0], [3.0]]), np.array([[3.0], [1.0], [2.0]])
    report = rosetta.check(model.eval(), double.eval(), x, y, loss="mse")
    assert report.ok and any("float32 rounding at this depth" in note for note in report.notes), str(report)
    with torch.no_grad():
        double[2].weight.fill_(2.5)
    assert where(rosetta.check(model, double, x, y, loss="mse"))[0] == "weights"
