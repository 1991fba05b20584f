"""A fully-convolutional denoiser, the architectures talk: 8×8×1 noisy bars -> conv 8 (2×2, stride 2) relu
("down1", 4×4) -> conv 16 (2×2, stride 2) relu (2×2) -> transposed conv 8 (2×2, stride 2) relu ("up1", 4×4)
-> concatenate [down1, up1] (4×4×16, U-Net's skip) -> transposed conv 1 (2×2, stride 2) sigmoid (8×8×1);
mean squared error against the clean bars, Adam (torch's form) lr 0.01, full batch.
JAX: a pytree of weights, lax's convolutions, jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "deconv"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
# lax's names for the canonical layouts: images NHWC, kernels (kh, kw, in, out) = "HWIO"
NHWC = ("NHWC", "HWIO", "NHWC")

# --- model


def build(params):
    """JAX's layout is the canonical one; model[3], the concatenation's node, is {}."""
    return [{key: jnp.asarray(a) for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: np.asarray(a) for key, a in layer.items()} for layer in model]


def conv2d_transpose(x, layer):
    """Keras's Conv2DTranspose: W (kh, kw, out, in) read as "HWIO" with in and out swapped and the kernel
    flipped (transpose_kernel=True), the input gradient of a conv by W; "VALID" with kernel = stride = 2
    gives (H − 1)·2 + 2 = 2H rows."""
    x = lax.conv_transpose(x, layer["W"], (2, 2), "VALID", dimension_numbers=NHWC, transpose_kernel=True)
    return x + layer["b"]


def predict(model, x):
    x = lax.conv_general_dilated(x, model[0]["W"], (2, 2), "VALID", dimension_numbers=NHWC)  # (N, 4, 4, 8)
    down1 = jax.nn.relu(x + model[0]["b"])
    x = lax.conv_general_dilated(down1, model[1]["W"], (2, 2), "VALID", dimension_numbers=NHWC)
    x = jax.nn.relu(x + model[1]["b"])  # (N, 2, 2, 16)
    up1 = jax.nn.relu(conv2d_transpose(x, model[2]))  # (N, 4, 4, 8)
    x = jnp.concatenate([down1, up1], axis=-1)  # the skip: (N, 4, 4, 8 + 8), down1's channels first
    return jax.nn.sigmoid(conv2d_transpose(x, model[4]))  # (N, 8, 8, 1)


def forward(model, x):
    return np.asarray(predict(model, x))


# --- loss


def loss(model, x, y):
    return optax.squared_error(predict(model, x), y).mean()  # mean over all N·8·8·1 pixels


# --- gradient

value_and_grad = jax.jit(jax.value_and_grad(loss))  # one compiled program: op by op, every op compiles


def grads(model, x, y):
    """(loss, dL/dW and dL/db of each layer): jax.grad of the loss, a pytree shaped like the weights."""
    value, g = value_and_grad(model, x, y)
    return float(value), get_params(g)


# --- update

OPTIMIZER = optax.adam(LR, b1=BETA1, b2=BETA2, eps=EPS)  # m̂/(√v̂ + ε) as torch (adam-epsilon/jax)


def optimizer(model):
    return OPTIMIZER.init(model)


@jax.jit
def update(model, state, x, y):
    value, g = value_and_grad(model, x, y)
    updates, state = OPTIMIZER.update(g, state)
    return optax.apply_updates(model, updates), state, value


# --- loop


def train(params, x, y, batches):
    model = build(params)
    state = optimizer(model)
    losses = []
    for rows in batches:
        model, state, value = update(model, state, x[rows], y[rows])
        losses.append(value)
    return get_params(model), np.array(losses)


# --- data


def load(dtype="float64", steps=None):
    """The catalog's 48 drawn 8×8 bars with N(0, 0.3²) noise (x NHWC), the clean pictures (y, the same
    shape), initial weights, batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
