"""A GRU, the architectures talk: GRU(8) reads a 6-bit stream (a bit as ±1), its last state -> 1 logit, the
stream's parity; log loss on the logit, Adam (torch's form) lr 0.01, full batch of all 64 streams.
NumPy: the forward pass, backpropagation through time and Adam by hand."""

import numpy as np

from foundation.catalog import get

TASK = "gru"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8

# --- model


def build(params):
    """NumPy's layout is the canonical one (Keras's reset_after=True GRU): W (1, 24), U (8, 24), gate
    blocks z, r, h; b (2, 24): b[0] the input bias, b[1] the recurrent one. Dense W (8, 1), b (1,)."""
    return [{key: a.copy() for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: a.copy() for key, a in layer.items()} for layer in model]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def gru(layer, x):
    """The last hidden state h_T (N, 8) of x (N, T, 1), and every step's values for the backward pass."""
    h = np.zeros((len(x), layer["U"].shape[0]), x.dtype)
    steps = []
    for t in range(x.shape[1]):
        p = x[:, t] @ layer["W"] + layer["b"][0]  # (N, 3u): the input projection
        q = h @ layer["U"] + layer["b"][1]  # (N, 3u): the recurrent projection
        p_z, p_r, p_h = np.split(p, 3, axis=1)
        q_z, q_r, q_h = np.split(q, 3, axis=1)
        z, r = sigmoid(p_z + q_z), sigmoid(p_r + q_r)
        cand = np.tanh(p_h + r * q_h)  # ĥ: r scales h U_h + b1_h, its bias included (reset_after)
        steps.append((h, z, r, cand, q_h))
        h = z * h + (1 - z) * cand  # h_t = z ⊙ h_{t−1} + (1 − z) ⊙ ĥ
    return h, steps


def forward(model, x):
    h, _ = gru(model[0], x)  # (N, 8)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 1) logits


# --- loss


def loss(out, y):
    # log loss on the logit z, stable: max(z, 0) − z·y + log(1 + e^−|z|), mean over all N·1 entries
    return np.mean(np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out))))


# --- gradient


def gru_backward(layer, x, dh, steps):
    """dL/dW, dL/dU, dL/db from dL/dh_T: the chain rule back through every step (BPTT)."""
    g_layer = {key: np.zeros_like(a) for key, a in layer.items()}
    for t in reversed(range(x.shape[1])):
        h_prev, z, r, cand, q_h = steps[t]
        d_cand = dh * (1 - z) * (1 - cand**2)  # dL/d(p_h + r ⊙ q_h)
        d_z = dh * (h_prev - cand) * z * (1 - z)  # dL/d(p_z + q_z)
        d_r = d_cand * q_h * r * (1 - r)  # dL/d(p_r + q_r)
        dp = np.concatenate([d_z, d_r, d_cand], axis=1)  # dL/dp (N, 3u)
        dq = np.concatenate([d_z, d_r, d_cand * r], axis=1)  # dL/dq: q_h enters as r ⊙ q_h
        g_layer["W"] += x[:, t].T @ dp
        g_layer["U"] += h_prev.T @ dq
        g_layer["b"] += np.stack([dp.sum(axis=0), dq.sum(axis=0)])  # (2, 3u): input, recurrent
        dh = dh * z + dq @ layer["U"].T  # into step t − 1: through z ⊙ h_{t−1} and through q
    return g_layer


def grads(model, x, y):
    """(loss, dL/dW, dL/dU and dL/db of each layer): the chain rule by hand, through time."""
    h, steps = gru(model[0], x)
    out = h @ model[1]["W"] + model[1]["b"]  # (N, 1)
    d_out = (sigmoid(out) - y) / out.size  # dL/dz = (σ(z) − y)/N
    dense = {"W": h.T @ d_out, "b": d_out.sum(axis=0)}
    return loss(out, y), [gru_backward(model[0], x, d_out @ model[1]["W"].T, steps), dense]


# --- update


def optimizer(model):
    zeros = [{key: np.zeros_like(a) for key, a in layer.items()} for layer in model]
    return {"t": 0, "m": zeros, "v": [{key: a.copy() for key, a in layer.items()} for layer in zeros]}


def update(model, g, state):
    """torch.optim.Adam: m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ), w −= lr·m̂/(√v̂ + ε)."""
    state["t"] += 1
    t = state["t"]
    for layer, grad, m, v in zip(model, g, state["m"], state["v"]):
        for key in layer:
            m[key] = BETA1 * m[key] + (1 - BETA1) * grad[key]
            v[key] = BETA2 * v[key] + (1 - BETA2) * grad[key] ** 2
            m_hat, v_hat = m[key] / (1 - BETA1**t), v[key] / (1 - BETA2**t)
            layer[key] -= LR * m_hat / (np.sqrt(v_hat) + EPS)
    return model, state


# --- loop


def train(params, x, y, batches):
    model = build(params)
    state = optimizer(model)
    losses = []
    for rows in batches:
        value, g = grads(model, x[rows], y[rows])
        model, state = update(model, g, state)
        losses.append(value)
    return get_params(model), np.array(losses)


# --- data


def load(dtype="float64", steps=None):
    """The catalog's 64 streams x (64, 6, 1) of ±1, y (64, 1) their parity 0 or 1, initial weights and
    batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
