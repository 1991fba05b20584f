"""A bidirectional LSTM, the architectures talk: an LSTM(8) reads 10 values uniform on [−1, 1] forward, a
second LSTM(8) reads them backward; [forward's last state, backward's last state] (16) -> 1 logit, is the
first value above the last? Binary cross-entropy on the logit, Adam (torch's form) lr 0.01, full batch.
NumPy: both readings, backpropagation through time for each, and Adam by hand."""

import numpy as np

from foundation.catalog import get

TASK = "bilstm"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8
BACK = "_r"  # the suffix of the backward reading's weights: W_r, U_r, b_r

# --- model


def build(params):
    """NumPy's layout is the canonical one: the forward LSTM W (1, 32), U (8, 32), b (32,), the backward one
    W_r, U_r, b_r alike, gate blocks i, f, g, o; Dense W (16, 1), b (1,)."""
    return [{key: a.copy() for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: a.copy() for key, a in layer.items()} for layer in model]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm(layer, x, suffix=""):
    """The last hidden state (N, 8) of the LSTM with weights W, U, b + suffix reading x (N, T, 1) from
    x[:, 0] to x[:, −1], and every step's values for the backward pass."""
    W, U, b = (layer[key + suffix] for key in ("W", "U", "b"))
    h = c = np.zeros((len(x), U.shape[0]), x.dtype)
    steps = []
    for t in range(x.shape[1]):
        a = x[:, t] @ W + h @ U + b  # (N, 4u)
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        steps.append((h, c, i, f, g, o))
        c = f * c + i * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
        h = o * np.tanh(c)  # h_t = o ⊙ tanh(c_t)
    return h, (c, steps)


def bilstm(layer, x):
    """[forward's h after x_T, backward's h after x_1] (N, 16), and both readings' values."""
    h_f, cache_f = lstm(layer, x)
    h_b, cache_b = lstm(layer, x[:, ::-1], BACK)  # the backward reading: x_T first, x_1 last
    return np.concatenate([h_f, h_b], axis=1), (cache_f, cache_b)


def forward(model, x):
    h, _ = bilstm(model[0], x)  # (N, 16)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 1) logits


# --- loss


def loss(out, y):
    """mean[max(z, 0) − z·y + log(1 + e^−|z|)]: −y·log σ(z) − (1 − y)·log(1 − σ(z)) without overflow."""
    return np.mean(np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out))))


# --- gradient


def lstm_backward(layer, x, dh, cache, suffix=""):
    """dL/dW, dL/dU, dL/db (+ suffix) from dL/dh_T of the reading lstm() did: BPTT, t = T−1 … 0."""
    U = layer["U" + suffix]
    c, steps = cache
    dW, dU, db = np.zeros_like(layer["W" + suffix]), np.zeros_like(U), np.zeros_like(layer["b" + suffix])
    dc = np.zeros_like(dh)
    for t in reversed(range(x.shape[1])):
        h_prev, c_prev, i, f, g, o = steps[t]
        tanh_c = np.tanh(c)
        dc = dc + dh * o * (1 - tanh_c**2)  # through h_t = o ⊙ tanh(c_t)
        di, df, dg, do = dc * g, dc * c_prev, dc * i, dh * tanh_c  # dL/di, dL/df, dL/dg, dL/do
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
        dW += x[:, t].T @ da
        dU += h_prev.T @ da
        db += da.sum(axis=0)
        dh, dc, c = da @ U.T, dc * f, c_prev  # into step t − 1
    return {"W" + suffix: dW, "U" + suffix: dU, "b" + suffix: db}


def grads(model, x, y):
    """(loss, dL/d of every weight): the chain rule by hand, the output's gradient split between the two
    readings and each one carried back through its own time order."""
    h, (cache_f, cache_b) = bilstm(model[0], x)
    out = h @ model[1]["W"] + model[1]["b"]  # (N, 1)
    d_out = (sigmoid(out) - y) / out.size  # dL/dz (N, 1)
    dense = {"W": h.T @ d_out, "b": d_out.sum(axis=0)}
    dh = d_out @ model[1]["W"].T  # (N, 16): [forward's 8, backward's 8]
    u = dh.shape[1] // 2
    g_f = lstm_backward(model[0], x, dh[:, :u], cache_f)
    g_b = lstm_backward(model[0], x[:, ::-1], dh[:, u:], cache_b, BACK)  # in the order it read x
    return loss(out, y), [g_f | g_b, dense]


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
    """The catalog's 128 sequences x (N, 10, 1), y (N, 1) = 1 where x[:, 0] > x[:, −1], else 0; initial
    weights; batches (full batch)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
