"""A tiny GPT, nanoGPT at toy size: tokens (N, 11) of minGPT's sort demo -> token table (3, 16) + learned
positions -> 2 pre-LayerNorm blocks (x + attention(LN(x)), 2 causal heads, no biases; then + MLP 16-64-16,
exact GELU) -> LayerNorm -> logits = h @ Eᵀ with the token table (tied); softmax cross-entropy over all
N·T positions, AdamW (torch's form) lr 1e-3, λ 0.01, minibatches of 32.
PyTorch: nanoGPT's modules (Block, GPT with wte, wpe, ln_f and the tied lm_head), autograd,
torch.optim.AdamW."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from foundation.catalog import get

TASK = "transformer"  # the catalog task this file follows
LR, BETA1, BETA2, EPS, WD = 1e-3, 0.9, 0.999, 1e-8, 0.01
VOCAB, LENGTH, WIDTH, HEADS, LN_EPS = 3, 11, 16, 2, 1e-5

# --- model


class Block(nn.Module):
    """Pre-LayerNorm: x + attention(LN(x)), then + MLP(LN(·))."""

    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(WIDTH, eps=LN_EPS)
        # bias=False: no in_proj_bias, no out_proj.bias; batch_first: (N, T, E), torch's default is (T, N, E)
        self.attn = nn.MultiheadAttention(WIDTH, HEADS, bias=False, batch_first=True)
        self.ln_2 = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.c_fc = nn.Linear(WIDTH, 4 * WIDTH)
        self.gelu = nn.GELU()  # approximate="none": the exact erf form
        self.c_proj = nn.Linear(4 * WIDTH, WIDTH)
        # True = may not attend: key s > query t, the strict upper triangle
        self.register_buffer("mask", torch.triu(torch.ones(LENGTH, LENGTH, dtype=torch.bool), 1), False)

    def forward(self, x):
        a = self.ln_1(x)
        # gotcha: with need_weights=False torch drops attn_mask when is_causal=True and trusts the flag;
        # the mask itself is what is applied (F.multi_head_attention_forward)
        x = x + self.attn(a, a, a, attn_mask=self.mask, need_weights=False)[0]
        return x + self.c_proj(self.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, WIDTH)  # the token table (3, 16)
        self.wpe = nn.Embedding(LENGTH, WIDTH)  # one learned row per position (11, 16)
        self.h = nn.ModuleList([Block(), Block()])
        self.ln_f = nn.LayerNorm(WIDTH, eps=LN_EPS)
        self.lm_head = nn.Linear(WIDTH, VOCAB, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one Parameter, autograd sums both uses

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))  # (N, T, 16)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # (N, T, 3) logits


def build(params):
    """Canonical -> torch: the tables E (3, 16) and P (11, 16) and LayerNorm's γ, β as they are; Wq, Wk, Wv
    (in, out) packed as in_proj_weight = [Wqᵀ; Wkᵀ; Wvᵀ] (48, 16), Wo -> out_proj.weight = Woᵀ; Linear
    weight = Wᵀ (dense-layout/torch); nothing for the tied head."""
    model = GPT().to(torch.from_numpy(params[0]["E"]).dtype)

    def copy(param, array):
        assert param.shape == array.shape, (param.shape, array.shape)
        param.copy_(torch.from_numpy(np.ascontiguousarray(array)))

    with torch.no_grad():
        copy(model.wte.weight, params[0]["E"])
        copy(model.wpe.weight, params[1]["P"])
        for block, i in zip(model.h, (2, 9)):
            ln1, attn, _, ln2, fc, proj = params[i : i + 6]
            copy(block.ln_1.weight, ln1["gamma"]), copy(block.ln_1.bias, ln1["beta"])
            copy(block.attn.in_proj_weight, np.concatenate([attn["Wq"].T, attn["Wk"].T, attn["Wv"].T]))
            copy(block.attn.out_proj.weight, attn["Wo"].T)
            copy(block.ln_2.weight, ln2["gamma"]), copy(block.ln_2.bias, ln2["beta"])
            copy(block.c_fc.weight, fc["W"].T), copy(block.c_fc.bias, fc["b"])
            copy(block.c_proj.weight, proj["W"].T), copy(block.c_proj.bias, proj["b"])
        copy(model.ln_f.weight, params[16]["gamma"]), copy(model.ln_f.bias, params[16]["beta"])
    return model


def get_params(model, grad=False):
    """The weights (or their .grad) in the canonical layouts, a dict per node; in_proj_weight's three
    (16, 16) row blocks are Wqᵀ, Wkᵀ, Wvᵀ."""

    def numpy(t, transpose=False):
        t = (t.grad if grad else t).detach().numpy()
        return (t.T if transpose else t).copy()

    def norm(ln):
        return {"gamma": numpy(ln.weight), "beta": numpy(ln.bias)}

    def linear(m):
        return {"W": numpy(m.weight, transpose=True), "b": numpy(m.bias)}

    nodes = [{"E": numpy(model.wte.weight)}, {"P": numpy(model.wpe.weight)}]
    for block in model.h:
        wq, wk, wv = np.split(numpy(block.attn.in_proj_weight), 3)
        attn = {"Wq": wq.T.copy(), "Wk": wk.T.copy(), "Wv": wv.T.copy(),
                "Wo": numpy(block.attn.out_proj.weight, transpose=True)}  # fmt: skip
        nodes += [norm(block.ln_1), attn, {}, norm(block.ln_2), linear(block.c_fc), linear(block.c_proj), {}]
    return nodes + [norm(model.ln_f), {}]


def forward(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- loss


def loss(out, y):
    """F.cross_entropy wants the classes on axis 1, or rows: (N·T, 3) logits against (N·T,) labels."""
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))  # the mean over all N·T


# --- gradient


def grads(model, x, y):
    """(loss, the trained weights' gradients): backward() fills each weight's .grad; wte.weight's is the
    sum of the embedding's and the tied head's."""
    model.zero_grad()
    value = loss(model(torch.from_numpy(x)), torch.from_numpy(y))
    value.backward()
    return value.item(), get_params(model, grad=True)


# --- update


def optimizer(model):
    """torch.optim.AdamW: w ← w·(1 − lr·λ), then Adam's step, on every parameter (the tied table once:
    parameters() yields a shared Parameter once). Not Adam(weight_decay=λ), which adds λ·w to the
    gradient before Adam's normalisation (adamw-coupled/torch)."""
    return torch.optim.AdamW(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS, weight_decay=WD)


# --- loop


def train(params, x, y, batches):
    model = build(params)
    opt = optimizer(model)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for rows in batches:
        opt.zero_grad()
        value = loss(model(x[rows]), y[rows])
        value.backward()
        opt.step()
        losses.append(value.item())
    return get_params(model), np.array(losses)


# --- data


def load(dtype="float64", steps=None):
    """The catalog's 256 sort-demo sequences: x the first 11 of 6 digits (0–2) then the same sorted, y the
    next token at each position (int64 (256, 11) both); initial weights; the task's minibatches of 32."""
    task = get(TASK)
    x, y = task.data()
    return x, y, task.init_params(dtype), task.batches(steps)


if __name__ == "__main__":
    x, y, params, batches = load()
    params, losses = train(params, x, y, batches)
    print(f"loss {losses[0]:.6f} -> {losses[-1]:.6f} in {len(losses)} steps")
