"""The catalog of framework differences, measured: what `rosetta diff` prints and
parity_tests/test_divergences.py checks. docs/divergences.md is the prose for each entry.

Every row names a function in a framework package that measures, with that framework's own code:
  default — the gap between the framework's default and the other frameworks' formula or default, both
            computed by that framework (its optimizer made to follow the other formula, say), and
  setting — the gap left with the documented setting (or the framework against its own variant),
which must be within `limit`, a number of foundation.tolerances.

A row's `kind` says how stable its default gap is. "formula": a formula or a default differs (Adam's
ε̂, a slope, a layout); the size is the same on every CPU and is pinned. "rounding": float32 against
float64; the size moves with the CPU's vector width, the kernels chosen for it and the thread count,
so only its order is asserted: above 100× the float64 tolerance, below the float32 one.
"""

import importlib
from dataclasses import dataclass

from foundation import frameworks, tolerances

KINDS = ("formula", "rounding")


@dataclass(frozen=True)
class Divergence:
    key: str  # "<entry>/<framework>": the anchor in docs/divergences.md and the test id
    title: str
    measure: str  # "package.module:function" -> Gap
    documented: float  # the default gap docs/divergences.md quotes (for "rounding": its order only)
    fix: str  # the setting that removes it, or why none can
    backends: tuple = ()  # Keras rows that hold only on these backends ( () = every backend)
    kind: str = "formula"  # one of KINDS: what the default gap is, and so how it is asserted

    def expected(self):
        """(low, high): where the default gap must lie on any machine."""
        if self.kind == "rounding":
            return 100 * tolerances.FORWARD["float64"], tolerances.FORWARD["float32"]
        return 0.9 * self.documented, 1.1 * self.documented

    def run(self):
        module, function = self.measure.split(":")
        return getattr(importlib.import_module(module), function)()


D = Divergence
CATALOG = [
    D("dense-layout/torch", "Dense kernel layout: torch Linear.weight is (out, in)",
      "divergences.of_torch:dense_layout", 1.21, "transpose once in build/get_params"),
    D("momentum-lr-change/torch", "SGD momentum: torch buf = μ·buf + g, then lr·buf",
      "divergences.of_torch:momentum_lr_change", 0.0966, "none: compare with the matching formula"),
    D("adam-epsilon/torch", "Adam ε: torch m̂/(√v̂ + ε), ε = 1e-8",
      "divergences.of_torch:adam_epsilon", 0.0155, "none: compare with the matching formula"),
    D("weight-decay/torch", "torch Adam(weight_decay) is coupled, AdamW decoupled; L2 = 2λ on kernels",
      "divergences.of_torch:weight_decay", 0.414, "Adam(weight_decay=2λ) on a kernels-only group"),
    D("mse-broadcast/torch", "torch mse_loss broadcasts (N, 1) against (N,) to (N, N)",
      "divergences.of_torch:mse_broadcast", 0.178, "targets shaped like the output"),
    D("leaky-relu/torch", "LeakyReLU slope: torch nn.LeakyReLU() is 0.01",
      "divergences.of_torch:leaky_relu_slope", 0.252, "negative_slope= explicitly"),
    D("init-truncation/torch", "He normal: torch kaiming_normal_ is not truncated",
      "divergences.of_torch:init_truncation", 0.023, "draw in NumPy, load into every framework"),
    D("leaky-relu/jax", "LeakyReLU at 0: jax.nn.leaky_relu's gradient is 1 (x >= 0), not the slope",
      "divergences.of_jax:leaky_relu_grad_at_zero", 0.244, "jnp.where(z > 0, z, α·z)"),
    D("float32-default/jax", "JAX computes float64 weights in float32 unless jax_enable_x64",
      "divergences.of_jax:float32_default", 2e-7, "jax.config.update('jax_enable_x64', True)",
      kind="rounding"),
    D("init-truncation/jax", "He normal: jax.nn.initializers.he_normal is truncated at 2σ like Keras's",
      "divergences.of_jax:init_truncation", 0.0229, "he_normal(), or draw in NumPy"),
    D("momentum-lr-change/jax", "SGD momentum: optax.sgd is the torch form, buf = μ·buf + g, then lr·buf",
      "divergences.of_jax:momentum_lr_change", 0.0966, "none: compare with the matching formula"),
    D("adam-epsilon/jax", "Adam ε: optax.adam m̂/(√v̂ + ε), ε = 1e-8, eps_root = 0",
      "divergences.of_jax:adam_epsilon", 0.0155, "none: compare with the matching formula"),
    D("weight-decay/jax", "optax.adamw decays every leaf, decoupled; L2 = add_decayed_weights(2λ) on kernels",
      "divergences.of_jax:weight_decay", 0.414, "add_decayed_weights(2λ, mask=kernels) before adam"),
    D("schedule-boundary/jax", "optax piecewise_constant_schedule switches at step b, Keras's after it",
      "divergences.of_jax:schedule_boundary", 0.0116, "Keras boundary = optax boundary − 1"),
    D("gelu-approximate/jax", "GELU: jax.nn.gelu defaults to the tanh form, torch and Keras to erf",
      "divergences.of_jax:gelu_approximate", 1.63e-4, "jax.nn.gelu(z, approximate=False)"),
    D("adam-epsilon/keras", "Adam ε̂: Keras lr·√(1−β2ᵗ)/(1−β1ᵗ)·m/(√v + ε̂), ε̂ = 1e-7",
      "divergences.of_keras:adam_epsilon", 0.0155, "none: compare with the matching formula"),
    D("momentum-lr-change/keras", "SGD momentum: Keras velocity v = μ·v − lr·g keeps past lrs",
      "divergences.of_keras:momentum_lr_change", 0.108, "none: compare with the matching formula"),
    D("weight-decay/keras", "Keras weight_decay= is decoupled on every variable; L2 is a regularizer",
      "divergences.of_keras:weight_decay", 0.414, "kernel_regularizer=regularizers.L2(λ)"),
    D("prob-clipping/keras", "BCE/CCE on probabilities clip at 1e-7 on the jax and torch backends",
      "divergences.of_keras:prob_clipping", 0.194, "logits out, from_logits=True",
      backends=("jax", "torch")),
    D("logits-path/keras", "TensorFlow backend: BCE/CCE on a sigmoid/softmax output use its hidden logits",
      "divergences.of_keras:logits_path", 0.241, "logits out, from_logits=True",
      backends=("tensorflow",)),
    D("leaky-relu/keras", "LeakyReLU slope: Keras layers.LeakyReLU() is 0.3, \"leaky_relu\" 0.2",
      "divergences.of_keras:leaky_relu_slope", 0.273, "LeakyReLU(negative_slope=α)"),
    D("init-truncation/keras", "He normal: Keras HeNormal is truncated at 2σ, torch's is not",
      "divergences.of_keras:init_truncation", 0.0231, "HeNormal(), or draw in NumPy"),
    D("fit-defaults/keras", "Keras fit defaults to batch_size=32, shuffle=True",
      "divergences.of_keras:fit_defaults", 1.24, "the task's batches, in order, as a PyDataset"),
    D("legacy-names/keras", "Keras 1/2 names (input_dim, init, lr, nb_epoch) raise or warn",
      "divergences.of_keras:legacy_names", 4.0, "Input(shape), kernel_initializer, learning_rate, epochs"),
    D("floatx/keras", "Keras builds layers in floatx (float32): set_weights casts float64 silently",
      "divergences.of_keras:floatx", 1e-7, "set_floatx and set_dtype_policy from the weights",
      kind="rounding"),
    D("float64-promotion/keras", "Keras's type promotion computes float64 in float32 on jax and torch",
      "divergences.of_keras:float64_promotion", 1.49e-8, "float64_fixes.type_promotion",
      backends=("jax", "torch")),
    D("leaky-relu-alpha/keras", "TensorFlow's LeakyRelu op holds α in float32",
      "divergences.of_keras:leaky_relu_alpha", 2.24e-8, "float64_fixes.LeakyReLU: where(z > 0, z, α·z)",
      backends=("tensorflow",)),
    D("l2-cast/keras", "TensorFlow backend: keras.regularizers.L2 casts λ through float32",
      "divergences.of_keras:l2_cast", 4.75e-8, "float64_fixes.L2: λ as a NumPy float64",
      backends=("tensorflow",)),
    D("hyperparameter-cast/keras", "TensorFlow backend: optimizers cast momentum, β, ε through float32",
      "divergences.of_keras:hyperparameter_cast", 2.65e-8, "float64_fixes.exact: NumPy float64 values",
      backends=("tensorflow",)),
]  # fmt: skip

# issue 14: PReLU's defaults (appended here, apart from the rows above)
CATALOG += [
    D("prelu-shared/torch", "PReLU: torch nn.PReLU() shares one α across all units (starting at 0.25)",
      "divergences.of_torch:prelu_shared", 1.31, "nn.PReLU(num_parameters=units)"),
    D("prelu-init/keras", "PReLU: Keras layers.PReLU() starts α at 0 (a ReLU), torch at 0.25",
      "divergences.of_keras:prelu_init", 0.317, "load α with the weights (set_weights)"),
]  # fmt: skip


# issue 15: convolutional and recurrent layers
CATALOG += [
    D("conv-kernel/torch", "Conv kernel: torch's is (out, in, kh, kw); NumPy's W.T gives (out, in, kw, kh)",
      "divergences.of_torch:conv_kernel_transpose", 0.606, "W.permute(3, 2, 0, 1)"),
    D("same-stride2/torch", "Stride-2 \"same\": TensorFlow pads (0, 1), a torch port's padding=1 pads (1, 1)",
      "divergences.of_torch:same_stride2_padding", 1.07, "nn.ZeroPad2d(same_padding) + Conv2d(padding=0)"),
    D("nchw-flatten/torch", "Flatten: torch's nn.Flatten on NCHW orders the features (C, H, W)",
      "divergences.of_torch:nchw_flatten", 1.08, "x.permute(0, 2, 3, 1).flatten(1) before the head"),
    D("lstm-bias/torch", "LSTM: torch adds two biases, bias_ih + bias_hh, each drawn U(±1/√u)",
      "divergences.of_torch:lstm_bias_init", 0.201, "b into bias_ih, bias_hh = 0 and frozen"),
    D("gru-gate-order/torch", "GRU: torch's gate blocks are r, z, n; canonical (Keras) z, r, h",
      "divergences.of_torch:gru_gate_order", 0.232, "reorder the blocks with TORCH_GRU_BLOCKS"),
    D("maxpool-ties/jax", "Max pool: jax.grad of jnp.max splits a tied window's gradient",
      "divergences.of_jax:maxpool_ties", 0.0605, "lax.reduce_window(x, -inf, lax.max, ...)"),
    D("gru-reset-after/keras", "GRU: Keras reset_after=False applies r before the matmul, one bias",
      "divergences.of_keras:gru_reset_after", 0.1245, "reset_after=True (Keras 3's default)"),
    D("lstm-forget-bias/keras", "LSTM init: Keras unit_forget_bias=True starts the forget bias at 1",
      "divergences.of_keras:lstm_forget_bias", 1.0, "draw the canonical weights; they follow Keras"),
]  # fmt: skip


# issue 23: graph nets
CATALOG += [
    D("bidirectional-last-state/torch", "Bidirectional LSTM: out[:, -1] holds the backward state after x_T",
      "divergences.of_torch:bidirectional_last_state", 1.42, "cat(out[:, -1, :u], out[:, 0, u:]), or h_n"),
    D("batchnorm-running-var/torch", "BatchNorm: torch's running variance follows the unbiased variance",
      "divergences.of_torch:batchnorm_running_var", 0.0019, "none: compare with the matching formula"),
    D("batchnorm-momentum/keras", "BatchNorm: Keras's momentum weighs the old value, torch's the batch",
      "divergences.of_keras:batchnorm_momentum", 0.864, "BatchNormalization(momentum=1 − m)"),
    D("conv-transpose-kernel/torch", "ConvTranspose2d.weight (in, out, kh, kw): NumPy's W.T swaps kh and kw",
      "divergences.of_torch:conv_transpose_kernel", 0.179, "W.permute(3, 2, 0, 1), as for Conv2d"),
    D("conv-transpose-same/torch", "ConvTranspose2d(3, 2, padding=1, output_padding=1): 1 px off TF \"same\"",
      "divergences.of_torch:conv_transpose_same", 1.33, "padding=0, then out[..., :2H, :2W]"),
]  # fmt: skip


# issue 25: the transformer, Keras's rows
CATALOG += [
    D("layernorm-epsilon/keras", "LayerNorm ε: Keras LayerNormalization() 1e-3, torch nn.LayerNorm 1e-5",
      "divergences.of_keras:layernorm_epsilon", 1.41, "LayerNormalization(epsilon=1e-5)"),
    D("attention-layout/keras", "Keras MHA kernels (E, h, d), (h, d, E) from torch's in_proj rows as is",
      "divergences.of_keras:attention_layout", 1.70, "transpose the rows, then reshape (heads_shaped)"),
    D("gelu-approximate/keras", "GELU: keras.ops.gelu defaults to the tanh form, activations.gelu to erf",
      "divergences.of_keras:gelu_approximate", 1.63e-4, "activation=\"gelu\", or approximate=False"),
    D("attention-scale/keras", "TensorFlow backend: MultiHeadAttention casts 1/√key_dim through float32",
      "divergences.of_keras:attention_scale", 5.09e-9, "float64_fixes.MultiHeadAttention: a float64 scale",
      backends=("tensorflow",)),
    D("attention-softmax/keras", "jax backend: MultiHeadAttention's attention softmax is float32",
      "divergences.of_keras:attention_softmax", 5e-8, "float64_fixes.MultiHeadAttention: the einsum path",
      backends=("jax",), kind="rounding"),
    D("gelu-cast/keras", "TensorFlow backend: tf.nn.gelu casts 1/√2 through float32",
      "divergences.of_keras:gelu_cast", 2.61e-8, "float64_fixes.gelu: ½z·erfc(−z·1/√2), a NumPy float64",
      backends=("tensorflow",)),
]  # fmt: skip


# issue 25: the transformer (torch and JAX rows)
CATALOG += [
    D("sdpa-rounding/torch", "F.scaled_dot_product_attention rounds apart from softmax(QKᵀ/√d)V in float32",
      "divergences.of_torch:sdpa_rounding", 2.4e-7, "none needed: the same formula (float64: 4e-16)",
      kind="rounding"),
    D("adamw-coupled/torch", "torch Adam(weight_decay=λ) adds λ·w to the gradient; AdamW decays w apart",
      "divergences.of_torch:adamw_coupled", 0.0714, "torch.optim.AdamW(weight_decay=λ)"),
    D("layernorm-epsilon/jax", "LayerNorm ε: Flax nnx.LayerNorm 1e-6, torch nn.LayerNorm 1e-5",
      "divergences.of_jax:layernorm_epsilon", 0.0140, "nnx.LayerNorm(dim, epsilon=1e-5)"),
    D("dot-product-attention/jax", "jax.nn.dot_product_attention computes its softmax in float32 on float64",
      "divergences.of_jax:dot_product_attention_float32", 8.5e-8, "einsums and jax.nn.softmax (impl_jax)",
      kind="rounding"),
]  # fmt: skip


def rows():
    """The rows that hold in this process: Keras's backend is fixed per process."""
    return [d for d in CATALOG if not d.backends or frameworks.keras_backend() in d.backends]


def measure(selected, on_done=lambda key: None):
    """[(divergence, Gap)]; imports each framework as its row needs it."""
    measured = []
    for d in selected:
        measured.append((d, d.run()))
        on_done(d.key)
    return measured


def format(measured):
    lines = [f"{'entry':<28} {'default gap':>11} {'kind':<8} {'with fix':>9} {'limit':>8}  fix"]
    for d, gap in measured:
        lines.append(
            f"{d.key:<28} {gap.default:>11.2e} {d.kind:<8} {gap.setting:>9.1e} {gap.limit:>8.0e}  {d.fix}"
        )
    lines.append("gaps are relative differences (max|a − b|/max|b|) measured now, on this machine;")
    lines.append("a rounding gap (float32 against float64) varies with the CPU, its kernels and threads.")
    return "\n".join(lines)
