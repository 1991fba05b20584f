"""A residual block, the architectures talk: 8×8×1 bars -> conv 8 (3×3, stride 2) relu -> BatchNorm ("stem")
-> conv 8 relu -> BatchNorm -> conv 8 relu -> BatchNorm -> + stem -> relu -> global average pool -> 3 logits;
softmax cross-entropy, Adam (torch's form) lr 0.01, full batch.
JAX: two pytrees, the trained weights and BatchNorm's running statistics; jax.grad, jax.jit, optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from foundation.catalog import get

# gotcha: without x64, float64 arrays silently compute in float32 (float32-default/jax)
jax.config.update("jax_enable_x64", True)

TASK = "resnet"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # running statistics r ← (1 − m)·r + m·batch
RUNNING = ("moving_mean", "moving_variance")
# lax's names for the canonical layouts: images NHWC, kernels (kh, kw, in, out) = "HWIO"
NHWC = ("NHWC", "HWIO", "NHWC")

# --- model


def build(params):
    """Canonical, a dict per node -> (weights, running): what the optimizer trains, and BatchNorm's running
    statistics, which it does not (a Flax/Haiku-style (params, state) pair)."""
    weights = [{k: jnp.asarray(a) for k, a in layer.items() if k not in RUNNING} for layer in params]
    running = [{k: jnp.asarray(a) for k, a in layer.items() if k in RUNNING} for layer in params]
    return weights, running


def get_params(model):
    weights, running = model
    return [{k: np.asarray(a) for k, a in (w | r).items()} for w, r in zip(weights, running)]


def conv2d(x, layer, stride):
    x = lax.conv_general_dilated(x, layer["W"], (stride, stride), "SAME", dimension_numbers=NHWC)
    return jax.nn.relu(x + layer["b"])


def batchnorm(x, layer, running, training):
    """γ·(x − μ)/√(σ² + ε) + β per channel; μ, σ² of the batch (biased) when training, else the running."""
    mean = x.mean(axis=(0, 1, 2)) if training else running["moving_mean"]
    var = x.var(axis=(0, 1, 2)) if training else running["moving_variance"]
    return layer["gamma"] * (x - mean) / jnp.sqrt(var + BN_EPS) + layer["beta"], (mean, var)


def predict(model, x, training=False):
    """(logits (N, 3), each BatchNorm's batch statistics)."""
    weights, running = model
    stem, s1 = batchnorm(conv2d(x, weights[0], 2), weights[1], running[1], training)  # (N, 4, 4, 8)
    h, s3 = batchnorm(conv2d(stem, weights[2], 1), weights[3], running[3], training)
    h, s5 = batchnorm(conv2d(h, weights[4], 1), weights[5], running[5], training)
    h = jax.nn.relu(stem + h)  # the shortcut
    h = h.mean(axis=(1, 2))  # global average pool (N, 8)
    return h @ weights[9]["W"] + weights[9]["b"], {1: s1, 3: s3, 5: s5}


def forward(model, x):
    return np.asarray(predict(model, x)[0])  # inference: BatchNorm's running statistics


# --- loss


def loss(weights, running, x, y):
    """(the loss, the batch statistics): jax.grad differentiates the first value, by the weights only."""
    out, stats = predict((weights, running), x, training=True)
    return optax.softmax_cross_entropy_with_integer_labels(out, y).mean(), stats  # y: labels (N,)


# --- gradient

value_and_grad = jax.jit(jax.value_and_grad(loss, has_aux=True))  # one compiled program, not op by op


def grads(model, x, y):
    """(loss, the trained weights' gradients): jax.grad of the loss, a pytree shaped like the weights."""
    (value, _), g = value_and_grad(*model, x, y)
    return float(value), [{k: np.asarray(a) for k, a in layer.items()} for layer in g]


# --- update

OPTIMIZER = optax.adam(LR, b1=BETA1, b2=BETA2, eps=EPS)  # m̂/(√v̂ + ε) as torch (adam-epsilon/jax)


def optimizer(model):
    return OPTIMIZER.init(model[0])  # the weights only


def moved(running, stats):
    """Each BatchNorm's running statistics, moved toward the batch's."""
    running = list(running)
    for i, (mean, var) in stats.items():
        mean_r, var_r = running[i]["moving_mean"], running[i]["moving_variance"]
        m = BN_MOMENTUM
        running[i] = {
            "moving_mean": (1 - m) * mean_r + m * mean,
            "moving_variance": (1 - m) * var_r + m * var,
        }
    return running


@jax.jit
def update(model, state, x, y):
    weights, running = model
    (value, stats), g = value_and_grad(weights, running, x, y)
    updates, state = OPTIMIZER.update(g, state)
    return (optax.apply_updates(weights, updates), moved(running, stats)), state, value


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
    """The catalog's 30 drawn 8×8 bars (x NHWC, y: labels 0, 1, 2), initial weights, batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
