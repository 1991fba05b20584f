"""The networks in PyTorch: a small nn.Module walking the task's graph, autograd for gradients.

Weights come in canonical (foundation.layouts; Dense {"W": (fan_in, fan_out), "b": (fan_out,)},
y = x @ W + b) and go out the same way. torch keeps Linear.weight as (out, in), Conv2d.weight as
(out, in, kh, kw), images as NCHW and its own recurrent gate layout: build and get_params (with
dense and dense_params here, conv.py, norm.py, recurrent.py and transformer.py) are the only places that
convert: nn.MultiheadAttention's packed in_proj_weight among them. Every tensor
follows the dtype of the weights (float64 or float32), not torch's default.

BatchNorm makes the module's mode matter: forward runs model.eval() (the running statistics),
loss_and_grads and train model.train() (the batch's statistics; each training-mode forward moves
the running ones once, which is train's update of them).
"""

import torch
import torch.nn.functional as F
from torch import nn

from foundation import validate
from foundation.arrays import as_dtype
from foundation.errors import unknown
from foundation.tasks import (
    ACTIVATIONS,
    GRU,
    INPUT,
    LOSSES,
    LSTM,
    Activation,
    Add,
    BatchNorm,
    Bidirectional,
    Concatenate,
    Conv2D,
    Conv2DTranspose,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    Layer,
    LayerNorm,
    MultiHeadAttention,
    Pool2D,
    PositionEmbedding,
    TiedOutput,
)
from impl_torch import conv, norm, recurrent, transformer

POOLS = {"max": conv.maxpool2d, "avg": conv.avgpool2d}
RECURRENT = {LSTM: recurrent.lstm, GRU: recurrent.gru}

# ---- activations: one module per layer, α from the task ----


def activation(spec):
    if spec.activation == "leaky_relu":
        return nn.LeakyReLU(negative_slope=spec.alpha)  # torch's default slope is 0.01: pass ours
    if spec.activation == "elu":
        return nn.ELU(alpha=spec.alpha)
    # gelu: nn.GELU() is the exact z·Φ(z) (approximate="none"), the task's
    modules = {
        "linear": nn.Identity,
        "relu": nn.ReLU,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "gelu": nn.GELU,
    }
    if spec.activation not in modules:
        raise unknown("activation", spec.activation, ACTIVATIONS)
    return modules[spec.activation]()


def prelu(alpha):
    """nn.PReLU holding a copy of the layer's learned α, one per unit: torch's default
    num_parameters=1 shares a single α across all units (and starts it at 0.25)."""
    alpha = torch.tensor(alpha)  # (fan_out,)
    module = nn.PReLU(num_parameters=len(alpha), dtype=alpha.dtype)  # α along dim 1 of (N, fan_out)
    with torch.no_grad():
        module.weight.copy_(alpha)
    return module


# ---- the nodes: each one's torch modules, holding a copy of its canonical weights ----


def dense(spec, layer, fan_in):
    """nn.Linear holding a copy of {"W": (fan_in, units), "b": (units,)} ("b" absent: no bias)."""
    W = torch.tensor(layer["W"])  # (fan_in, fan_out), float64 or float32
    assert W.shape == (fan_in, spec.units), f"W is {tuple(W.shape)}, expected {(fan_in, spec.units)}"
    # dtype= : torch's default is float32; the weights' dtype decides. Its own init is overwritten.
    module = nn.Linear(fan_in, spec.units, bias="b" in layer, dtype=W.dtype)
    with torch.no_grad():
        module.weight.copy_(W.T)  # canonical (in, out) -> Linear.weight (out, in)
        if "b" in layer:
            module.bias.copy_(torch.tensor(layer["b"]))
    return module


class Sum(nn.Module):
    """Add: the sum of the inputs, left to right."""

    def forward(self, inputs):
        total = inputs[0]
        for a in inputs[1:]:
            total = total + a
        return total


class Concat(nn.Module):
    """Concatenate along the channels: dim 1 of NCHW images, the last dim of features and sequences."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, inputs):
        return torch.cat(inputs, dim=self.dim)


def node_layers(spec, layer, in_shape):
    """The torch modules one node runs, in order, holding a copy of its canonical weights; in_shape is
    one sample's canonical input shape (a merge's: the tuple of its inputs' shapes)."""
    if isinstance(spec, Layer):
        act = prelu(layer["alpha"]) if spec.activation == "prelu" else activation(spec)
        return [dense(spec, layer, in_shape[-1]), act]
    if isinstance(spec, Conv2D):
        return [*conv.conv2d(spec, layer, in_shape), activation(spec)]
    if isinstance(spec, Conv2DTranspose):
        return [conv.conv2d_transpose(spec, layer, in_shape), activation(spec)]
    if isinstance(spec, Activation):
        return [activation(spec)]
    if isinstance(spec, BatchNorm):
        return norm.batchnorm(spec, layer, in_shape)
    if isinstance(spec, Pool2D):
        return [POOLS[spec.kind](spec)]
    if isinstance(spec, GlobalAveragePooling2D):
        return [conv.global_avgpool2d()]  # (N, C, H, W) -> (N, C)
    if isinstance(spec, Flatten):  # images: (N, C, H, W) -> (N, H·W·C), NHWC order; (N, T, C) -> (N, T·C)
        return [conv.flatten(in_shape)]
    if isinstance(spec, Add):
        return [Sum()]
    if isinstance(spec, Concatenate):
        return [Concat(1 if len(in_shape[0]) == 3 else -1)]  # NHWC's last axis is NCHW's dim 1
    if isinstance(spec, Bidirectional):
        return [recurrent.bidirectional(spec, layer, in_shape[-1])]  # in_shape (T, F)
    if isinstance(spec, Embedding):  # token ids (N, T) -> (N, T, E)
        return [transformer.embedding(spec, layer)]
    if isinstance(spec, PositionEmbedding):
        return [transformer.position_embedding(layer, in_shape)]
    if isinstance(spec, LayerNorm):
        return [transformer.layernorm(spec, layer, in_shape)]
    if isinstance(spec, MultiHeadAttention):
        return [transformer.attention(spec, layer, in_shape)]
    if isinstance(spec, TiedOutput):  # the Embedding's weight, set by transformer.tie in build
        return [transformer.tied_output()]
    return [RECURRENT[type(spec)](spec, layer, in_shape[-1])]  # LastStep: many-to-one


# ---- the graph ----


class Graph(nn.Module):
    """The task's nodes run in order on a dict of values by node name. The torch modules sit in one flat
    ModuleList in node order, as an nn.Sequential's (model[i], `for module in model`); node k runs
    its span of them, spans[k], on its input, or on the list of its inputs (Add, Concatenate). The
    input's and the output's spans convert images between NHWC and NCHW (empty otherwise)."""

    def __init__(self, task, entry, nodes, exit):
        super().__init__()
        self.layers = nn.ModuleList(entry + [module for node in nodes for module in node] + exit)
        bounds = [0, len(entry)]
        for node in nodes + [exit]:
            bounds.append(bounds[-1] + len(node))
        spans = [range(start, stop) for start, stop in zip(bounds, bounds[1:])]
        self.entry, self.spans, self.exit = spans[0], spans[1:-1], spans[-1]
        self.names, self.inputs = task.names, task.inputs

    def forward(self, x):
        modules = list(self.layers)  # a plain list: ModuleList[i] costs microseconds a call
        values = {INPUT: run(modules, self.entry, x)}  # node name -> its output
        for name, reads, span in zip(self.names, self.inputs, self.spans):
            a = values[reads[0]] if len(reads) == 1 else [values[read] for read in reads]
            values[name] = run(modules, span, a)
        return run(modules, self.exit, values[self.names[-1]])

    def __getitem__(self, i):
        return self.layers[i]

    def __setitem__(self, i, module):
        self.layers[i] = module

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)


def run(modules, span, a):
    """modules[span] applied in turn to a."""
    for i in span:
        a = modules[i](a)
    return a


def build(task, params):
    """A Graph holding a copy of the canonical weights, in training mode: per node Linear or Conv2d /
    ConvTranspose2d then its activation, BatchNorm1d/2d, MaxPool2d/AvgPool2d, global average pooling,
    FlattenNHWC, LastStep(LSTM/GRU), BothWays(bidirectional LSTM/GRU), Sum, Concat, and the
    transformer's nn.Embedding, Positions, nn.LayerNorm, SelfAttention, TiedLinear. Images come in
    NHWC, are permuted to torch's NCHW once, at the input, and an image output back to NHWC."""
    nodes = [node_layers(spec, layer, in_shape)
             for spec, layer, (in_shape, _) in zip(task.layers, params, task.layer_shapes)]  # fmt: skip
    transformer.tie(task, nodes)  # a TiedOutput shares its Embedding's nn.Parameter
    entry = [conv.ToNCHW()] if len(task.input_shape) == 3 else []  # (N, H, W, C) -> (N, C, H, W)
    exit = [conv.ToNHWC()] if len(task.output_shape) == 3 else []  # (N, C, H, W) -> (N, H, W, C)
    return Graph(task, entry, nodes, exit)


def get_params(model, grads=False):
    """The canonical weights, one dict per node ({} for a node without weights), NumPy (grads=True:
    their gradients; a BatchNorm's gamma and beta only). ToNCHW, ZeroPad2d and the activations hold none."""
    return [node_params([model[i] for i in span], grads) for span in model.spans]


def node_params(modules, grads=False):
    """The canonical weights held by one node's modules."""
    layer = {}
    for module in modules:
        if isinstance(module, nn.PReLU):  # the learned α of the Linear before it
            layer["alpha"] = (module.weight.grad if grads else module.weight).detach().numpy().copy()
        for kind, params in PARAMS:
            if isinstance(module, kind):
                layer.update(params(module, grads))
    return layer


def dense_params(module, grads=False):
    """The canonical {"W": (in, out), "b": (out,)} of an nn.Linear (grads=True: its gradients)."""
    W, b = module.weight, module.bias
    if grads:
        W, b = W.grad, None if b is None else b.grad
    W = W.detach().T  # Linear.weight (out, in) -> canonical (in, out)
    assert W.shape == (module.in_features, module.out_features), f"W is {tuple(W.shape)}"
    layer = {"W": W.numpy().copy()}
    if b is not None:
        layer["b"] = b.detach().numpy().copy()
    return layer


PARAMS = (  # each module kind holding weights, and the function reading them under the canonical keys
    (nn.Linear, dense_params),
    (nn.Conv2d, conv.conv2d_params),
    (nn.ConvTranspose2d, conv.conv2d_transpose_params),
    ((nn.BatchNorm1d, nn.BatchNorm2d), norm.batchnorm_params),
    (recurrent.LastStep, recurrent.recurrent_params),
    (recurrent.BothWays, recurrent.bidirectional_params),
    (nn.Embedding, transformer.embedding_params),
    (transformer.Positions, transformer.position_params),
    (nn.LayerNorm, transformer.layernorm_params),
    (transformer.SelfAttention, transformer.attention_params),
)


def forward(task, params, x):
    """The network's output (pre-loss: logits for the cross-entropies), NumPy; BatchNorm in inference
    mode (its running statistics)."""
    x = validate.forward_call(task, params, x)
    model = build(task, params).eval()
    with torch.no_grad():
        return model(torch.as_tensor(as_dtype(x, params))).numpy()


# ---- losses on the output (N, K) ----


def loss_value(task, out, y):
    """The task's loss of the output (N, K)."""
    return multitask(task, out, y) if task.loss == "multitask" else named_loss(task.loss, out, y)


def named_loss(name, out, y):
    """A loss of rosetta.tasks.LOSSES."""
    n = out.shape[0]
    if name == "half_sse":
        return 0.5 * torch.sum((out - y) ** 2)  # L = ½Σ(out − y)²
    if name == "sse_2n":
        return torch.sum((out - y) ** 2) / (2 * n)  # L = Σ(out − y)²/(2N)
    if name == "mse":
        # mse_loss broadcasts (N, 1) against (N,) to (N, N) with only a warning: foundation.validate
        # refuses targets not shaped like the output before they get here
        return F.mse_loss(out, y)  # mean over all N·K elements
    if name == "bce_logits":
        return F.binary_cross_entropy_with_logits(out, y)  # mean; takes logits, not probabilities
    if (
        name == "softmax_ce"
    ):  # mean over rows; logits (N, K), int64 labels (N,); per position (N, T, K), (N, T)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))  # sequences: mean over N·T
    raise unknown("loss", name, LOSSES)


def multitask(task, out, y):
    """w₁·MSE(regression columns) + w₂·softmax CE(class columns); y (N, R + K), one-hot classes."""
    r, (w1, w2) = task.n_regression, task.loss_weights
    # cross_entropy takes class probabilities as the target too: the one-hot rows, no argmax needed
    return w1 * F.mse_loss(out[:, :r], y[:, :r]) + w2 * F.cross_entropy(out[:, r:], y[:, r:])


def l2_penalty(task, model):
    """λ·ΣW² over the kernels only (a term in the loss, not torch's weight_decay)."""
    return task.l2 * sum(torch.sum(m.weight**2) for m in model if isinstance(m, nn.Linear))


# ---- the loss and its gradient by autograd ----


def total_loss(task, model, x, y):
    """The loss incl. L2 on tensors already in the weights' dtype; a 0-d tensor autograd can follow."""
    loss = loss_value(task, model(x), y)
    if task.l2:
        loss = loss + l2_penalty(task, model)
    return loss


def loss_and_grads(task, params, x, y):
    """The loss (with any L2 term) and its gradient with respect to every trained weight, canonical;
    BatchNorm in training mode (the batch's statistics; the running ones this moves are dropped)."""
    x, y = validate.loss_call(task, params, x, y)
    model = build(task, params).train()
    x, y = torch.as_tensor(as_dtype(x, params)), torch.as_tensor(as_dtype(y, params))  # labels: int64
    loss = total_loss(task, model, x, y)
    loss.backward()  # fills each parameter's .grad, shaped like the parameter: Linear's (out, in)
    return loss.item(), get_params(model, grads=True)
