"""The catalog's graph nets on port-check's canonical side: each task, with its own weights, against a
torch port written as people write one (a `forward` that calls torch.relu and adds the shortcut) and
against a Keras functional model; and a planted bug in each torch port, found where it was planted.

Keras runs on the backend of the process (KERAS_BACKEND)."""

import numpy as np
import pytest
import torch
from torch import nn

import impl_keras
import reference_numpy
import rosetta
from foundation.layouts import torch_pack
from rosetta import tasks

GRAPH_TASKS = ("resnet", "bilstm", "deconv")
LOSSES = {"resnet": "softmax_ce", "bilstm": "bce_logits", "deconv": "mse"}


# ---- the torch ports, as people write them ----


class ResidualNet(nn.Module):
    """resnet: a stride-2 stem (TensorFlow's "same": the odd pixel padded bottom/right), a residual
    block of conv-ReLU-BN twice with the identity shortcut, global pooling, a head."""

    def __init__(self, shortcut=True):
        super().__init__()
        self.stem, self.bn0 = (
            nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(1, 8, 3, stride=2)),
            nn.BatchNorm2d(8),
        )
        self.conv1, self.bn1 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.fc, self.shortcut = nn.Linear(8, 3), shortcut

    def forward(self, x):  # x (N, 1, H, W)
        h = self.bn0(torch.relu(self.stem(x)))
        out = self.bn1(torch.relu(self.conv1(h)))
        out = self.bn2(torch.relu(self.conv2(out)))
        out = torch.relu(out + h if self.shortcut else out)
        return self.fc(out.mean((2, 3)))


class BiLSTM(nn.Module):
    """bilstm: both directions' last states, h_n[0] (forward) and h_n[1] (backward), then the head."""

    def __init__(self, wrong_state=False):
        super().__init__()
        self.lstm, self.fc, self.wrong_state = (
            nn.LSTM(1, 8, batch_first=True, bidirectional=True),
            nn.Linear(16, 1),
            wrong_state,
        )

    def forward(self, x):  # x (N, T, 1)
        out, (h, _) = self.lstm(x)
        last = (
            out[:, -1] if self.wrong_state else torch.cat([h[0], h[1]], dim=1)
        )  # out[:, -1, 8:] saw x_T only
        return self.fc(last)


class Denoiser(nn.Module):
    """deconv: two stride-2 convolutions down, two transposed ones up, the first joined with the skip."""

    def __init__(self, skip_order=("down", "up")):
        super().__init__()
        self.down1, self.down2 = nn.Conv2d(1, 8, 2, stride=2), nn.Conv2d(8, 16, 2, stride=2)
        self.up1, self.up2 = nn.ConvTranspose2d(16, 8, 2, stride=2), nn.ConvTranspose2d(16, 1, 2, stride=2)
        self.skip_order = skip_order

    def forward(self, x):  # x (N, 1, 8, 8)
        d1 = torch.relu(self.down1(x))
        u1 = torch.relu(self.up1(torch.relu(self.down2(d1))))
        joined = torch.cat([d1, u1] if self.skip_order == ("down", "up") else [u1, d1], dim=1)
        return torch.sigmoid(self.up2(joined))


PORTS = {"resnet": ResidualNet, "bilstm": BiLSTM, "deconv": Denoiser}


def load_torch(model, params):
    """The canonical weights into the port's modules, in the order they were defined (float64 first:
    loading into float32 parameters would round them)."""
    model = model.double()
    modules = [
        m
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d, nn.LSTM))
    ]
    weighted = [layer for layer in params if layer]
    assert len(modules) == len(weighted)
    state = {}
    for m, layer in zip(modules, weighted):
        name = next(n for n, other in model.named_modules() if other is m)
        state |= {
            f"{name}.{key}": torch.from_numpy(np.ascontiguousarray(value))
            for key, value in torch_arrays(m, layer).items()
        }
    model.load_state_dict(state, strict=False)
    for name, p in model.named_parameters():
        p.requires_grad_(
            not name.startswith("lstm.bias_hh")
        )  # one trained bias, as canonical (lstm-bias/torch)
    return model.eval()


def torch_arrays(m, layer):
    if isinstance(m, nn.Linear):
        return {"weight": layer["W"].T, "bias": layer["b"]}
    if isinstance(
        m, (nn.Conv2d, nn.ConvTranspose2d)
    ):  # (kh, kw, in, out) -> (out, in, kh, kw); transposed: (in, out, kh, kw)
        return {"weight": layer["W"].transpose(3, 2, 0, 1), "bias": layer["b"]}
    if isinstance(m, nn.BatchNorm2d):
        return {"weight": layer["gamma"], "bias": layer["beta"], "running_mean": layer["moving_mean"],
                "running_var": layer["moving_variance"]}  # fmt: skip
    arrays = {}
    for suffix, back in (("", ""), ("_reverse", "_r")):  # canonical gate blocks i, f, g, o are torch's
        arrays |= {f"weight_ih_l0{suffix}": layer["W" + back].T, f"weight_hh_l0{suffix}": layer["U" + back].T,
                   f"bias_ih_l0{suffix}": layer["b" + back],
                   f"bias_hh_l0{suffix}": np.zeros_like(layer["b" + back])}  # fmt: skip
    return arrays


def trained(name, steps=20):
    """The task's weights after a few reference steps: BatchNorm's running statistics away from 0 and 1."""
    task = tasks.get(name)
    return task, reference_numpy.train(task, task.init_params(), steps)[0]


@pytest.mark.parametrize("name", GRAPH_TASKS)
def test_the_task_against_its_torch_port_is_ok(name):
    task, params = trained(name)
    x, y = task.data()
    optimizers = (tasks.Optimizer("sgd", lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1))
    port = load_torch(PORTS[name](), params)
    report = rosetta.check((task, params), port, x, y, loss=LOSSES[name], steps=2, optimizer=optimizers)
    assert report.ok and not report.hints, report


@pytest.mark.parametrize("name", GRAPH_TASKS)
def test_the_task_against_its_keras_functional_model_is_ok(name):
    task, params = trained(name)
    x, y = task.data()
    report = rosetta.check((task, params), impl_keras.build(task, params), x, y, loss=LOSSES[name])
    assert report.ok and not report.hints, report


# ---- the tiny transformer: a nanoGPT-style port with torch's own modules ----


class Block(nn.Module):
    """A pre-LayerNorm block: x + attention(ln_1(x)) with a causal mask, then x + MLP(ln_2(x))."""

    def __init__(self, dim, heads, causal):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, bias=False, batch_first=True)
        self.fc, self.gelu, self.proj = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.causal = causal

    def forward(self, x):  # x (N, T, E)
        t = x.size(1)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1) if self.causal else None  # True: masked
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(self.gelu(self.fc(self.ln_2(x))))


class TinyGPT(nn.Module):
    """transformer: token and position embeddings, two blocks, a final LayerNorm, the output layer
    tied to the token table (nanoGPT's `self.transformer.wte.weight = self.lm_head.weight`)."""

    def __init__(self, vocab=3, length=11, dim=16, heads=2, causal=True):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Embedding(length, dim)
        self.h = nn.ModuleList([Block(dim, heads, causal) for _ in range(2)])
        self.ln_f, self.lm_head = nn.LayerNorm(dim), nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):  # idx (N, T) token ids
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def load_gpt(model, task, params):
    """The canonical weights into TinyGPT by hand: tables as they are, Linear weights transposed, q, k,
    v packed into in_proj_weight (foundation.layouts.torch_pack)."""
    layer = dict(zip(task.names, params))
    state = {"wte.weight": layer["embed"]["E"], "wpe.weight": layer["pos"]["P"],
             "ln_f.weight": layer["ln_f"]["gamma"], "ln_f.bias": layer["ln_f"]["beta"]}  # fmt: skip
    for b in range(2):
        rows, _ = torch_pack(layer[f"b{b}.attn"])  # no biases (the task's bias=False)
        state |= {f"h.{b}.attn.in_proj_weight": np.concatenate(rows),
                  f"h.{b}.attn.out_proj.weight": layer[f"b{b}.attn"]["Wo"].T}  # fmt: skip
        for ours, theirs in (("ln1", "ln_1"), ("ln2", "ln_2")):
            norm = layer[f"b{b}.{ours}"]
            state |= {f"h.{b}.{theirs}.weight": norm["gamma"], f"h.{b}.{theirs}.bias": norm["beta"]}
        for name in ("fc", "proj"):
            dense = layer[f"b{b}.{name}"]
            state |= {f"h.{b}.{name}.weight": dense["W"].T, f"h.{b}.{name}.bias": dense["b"]}
    model = model.double()
    model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False
    )
    return model.eval()


def test_the_transformer_against_its_torch_port_is_ok():
    task, params = trained("transformer", steps=5)
    x, y = task.data()
    x, y = x[:8], y[:8]
    optimizers = (tasks.Optimizer("sgd", lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1))
    port = load_gpt(TinyGPT(), task, params)
    report = rosetta.check((task, params), port, x, y, loss="softmax_ce", steps=2, optimizer=optimizers)
    assert report.ok and not report.hints, report


def test_the_transformer_against_its_keras_functional_model_is_ok():
    task, params = trained("transformer", steps=5)
    x, y = task.data()
    report = rosetta.check((task, params), impl_keras.build(task, params), x[:8], y[:8], loss="softmax_ce")
    assert report.ok and not report.hints, report


def test_a_transformer_port_without_the_causal_mask_is_found():
    task, params = trained("transformer", steps=5)
    x, _ = task.data()
    report = rosetta.check((task, params), load_gpt(TinyGPT(causal=False), task, params), x[:8])
    assert not report.ok and [(hint.kind, hint.block) for hint in report.hints] == [("causal-mask", 3)], (
        report
    )


PLANTED = {
    "resnet": {"shortcut": False},
    "bilstm": {"wrong_state": True},
    "deconv": {"skip_order": ("up", "down")},
}


@pytest.mark.parametrize("name", GRAPH_TASKS)
def test_a_planted_bug_in_the_torch_port_is_found(name):
    task, params = trained(name)
    x, _ = task.data()
    report = rosetta.check((task, params), load_torch(PORTS[name](**PLANTED[name]), params), x)
    assert not report.ok, report
