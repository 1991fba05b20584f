"""An LSTM, the architectures talk: LSTM(8) reads 10 steps of a sine wave, its last state -> 1 output, the
next value; MSE, Adam (torch's form) lr 0.01, minibatches of 32 in the task's seeded order.
NumPy: the forward pass, backpropagation through time and Adam by hand."""

import numpy as np

from foundation.catalog import get

TASK = "lstm"  # the catalog task this file follows
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.999, 1e-8

# --- model


def build(params):
    """NumPy's layout is the canonical one: LSTM W (1, 32), U (8, 32), b (32,), gate blocks i, f, g, o;
    Dense W (8, 1), b (1,)."""
    return [{key: a.copy() for key, a in layer.items()} for layer in params]


def get_params(model):
    return [{key: a.copy() for key, a in layer.items()} for layer in model]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm(layer, x):
    """The last hidden state h_T (N, 8) of x (N, T, 1), and every step's values for the backward pass."""
    u = layer["U"].shape[0]
    h = c = np.zeros((len(x), u), x.dtype)
    steps = []
    for t in range(x.shape[1]):
        a = x[:, t] @ layer["W"] + h @ layer["U"] + layer["b"]  # (N, 4u)
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        steps.append((h, c, i, f, g, o))
        c = f * c + i * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
        h = o * np.tanh(c)  # h_t = o ⊙ tanh(c_t)
    return h, c, steps


def forward(model, x):
    h, _, _ = lstm(model[0], x)  # (N, 8)
    return h @ model[1]["W"] + model[1]["b"]  # (N, 1)


# --- loss


def loss(out, y):
    return np.mean((out - y) ** 2)  # mean over all N·1 entries


# --- gradient


def lstm_backward(layer, x, dh, c, steps):
    """dL/dW, dL/dU, dL/db from dL/dh_T: the chain rule back through every step (BPTT)."""
    g_layer = {key: np.zeros_like(a) for key, a in layer.items()}
    dc = np.zeros_like(dh)
    for t in reversed(range(x.shape[1])):
        h_prev, c_prev, i, f, g, o = steps[t]
        tanh_c = np.tanh(c)
        dc = dc + dh * o * (1 - tanh_c**2)  # through h_t = o ⊙ tanh(c_t)
        di, df, dg, do = dc * g, dc * c_prev, dc * i, dh * tanh_c  # dL/di, dL/df, dL/dg, dL/do
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
        g_layer["W"] += x[:, t].T @ da
        g_layer["U"] += h_prev.T @ da
        g_layer["b"] += da.sum(axis=0)
        dh, dc, c = da @ layer["U"].T, dc * f, c_prev  # into step t − 1
    return g_layer


def grads(model, x, y):
    """(loss, dL/dW, dL/dU and dL/db of each layer): the chain rule by hand, through time."""
    h, c, steps = lstm(model[0], x)
    out = h @ model[1]["W"] + model[1]["b"]  # (N, 1)
    d_out = 2 * (out - y) / out.size  # dL/dout (N, 1)
    dense = {"W": h.T @ d_out, "b": d_out.sum(axis=0)}
    return loss(out, y), [lstm_backward(model[0], x, d_out @ model[1]["W"].T, c, steps), dense]


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
    """The catalog's 200 windows x (N, 10, 1), y (N, 1), initial weights and batches: 32 a batch in a
    seeded order per epoch, the last one shorter (200 = 6·32 + 8)."""
    task = get(TASK)
    x, y = task.data()
    return x.astype(dtype), y.astype(dtype), task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
