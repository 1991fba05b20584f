"""The network in Keras 3: a functional keras.Model of stock layers (Dense; Conv2D, Conv2DTranspose,
pooling, Flatten from conv.py; BatchNormalization from norm.py; LSTM, GRU, Bidirectional from
recurrent.py; ReversibleEmbedding, LayerNormalization, MultiHeadAttention from transformer.py; Add,
Concatenate, Activation), the loss from keras.losses, and the gradient from
whichever backend KERAS_BACKEND selects (tensorflow, jax or torch).

The task's model is a graph of nodes (rosetta.tasks); a chain is the graph where each node reads the
one before it. build calls each node's Keras layers on the tensors of the nodes it reads, from
keras.Input to the last node, and keras.Model(input, output) is the model: one path for chains and
graphs. Weights come in canonical, one dict per node ({"W": (fan_in, fan_out), "b": (fan_out,)},
y = x @ W + b; a PReLU layer's "alpha": (fan_out,); Conv2D, Conv2DTranspose, LSTM, GRU, Bidirectional,
BatchNorm, the transformer's nodes as in foundation.layouts; {} for a node without weights) and go
out the same way: Keras's layouts are the canonical ones (Dense.kernel (in, out), Conv2D.kernel
(kh, kw, in, out), LSTM/GRU kernel, recurrent_kernel, bias, BatchNormalization gamma, beta,
moving_mean, moving_variance, Embedding.embeddings), so no transpose anywhere; MultiHeadAttention's
kernels hold each head apart, (E, h, d) and (h, d, E): a reshape, in transformer.py. Every variable,
input and loss follows the dtype of the weights (float64 or float32) through keras.config.set_floatx;
a float64 run also takes the fixes of impl_keras/float64_fixes.py.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from foundation import validate
from foundation.arrays import as_dtype
from foundation.errors import unknown
from foundation.params import dtype_of
from foundation.tasks import (
    ACTIVATIONS,
    GRU,
    INPUT,
    LOSSES,
    LSTM,
    MERGES,
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
    LayerNorm,
    MultiHeadAttention,
    Pool2D,
    PositionEmbedding,
    TiedOutput,
)
from impl_keras import conv, float64_fixes, norm, recurrent, transformer

# ---- activations: by name on the Dense or Conv2D layer, or a layer with the task's α after it ----

NAMED = ("linear", "relu", "sigmoid", "tanh")


def activation(spec):
    """Dense's or Conv2D's activation= argument; None where a layer with an α follows (alpha_layers)."""
    if spec.activation not in ACTIVATIONS:
        raise unknown("activation", spec.activation, ACTIVATIONS)
    if spec.activation == "gelu":
        return float64_fixes.gelu_activation()  # "gelu": the exact erf form
    return spec.activation if spec.activation in NAMED else None


def alpha_layers(spec):
    """The layers after a Dense or Conv2D(activation=None): LeakyReLU, ELU or PReLU (Dense only)."""
    if spec.activation == "leaky_relu":
        return [float64_fixes.leaky_relu(spec.alpha)]  # keras.layers.LeakyReLU(negative_slope=α)
    if spec.activation == "elu":
        return [keras.layers.ELU(alpha=spec.alpha)]
    if spec.activation == "prelu":  # one α per unit (shared_axes=None); build loads the task's
        return [keras.layers.PReLU()]  # Keras's α starts at 0 (alpha_initializer="Zeros"), torch's at 0.25
    return []


def activation_layers(spec, name):
    """An Activation node: keras.layers.Activation(f), or LeakyReLU / ELU with the task's α."""
    return alpha_layers(spec) or [keras.layers.Activation(activation(spec), name=name)]


# ---- the nodes: each one's Keras layers, named after the node (an α layer keeps Keras's name) ----


def dense(task, spec, name):
    """keras.layers.Dense(units) with the task's activation (or None, the α layer after it) and L2."""
    return keras.layers.Dense(
        spec.units,
        activation=activation(spec),
        use_bias=spec.bias,
        kernel_initializer="zeros",  # Keras 1: init=; the task's weights replace it
        kernel_regularizer=l2_penalty(task),  # adds λ·ΣW² to the loss
        name=name,
    )


def add(spec, name):
    """keras.layers.Add: the inputs summed left to right."""
    return keras.layers.Add(name=name)


def concatenate(spec, name):
    """keras.layers.Concatenate(axis=-1): the inputs joined along the last axis, in order."""
    return keras.layers.Concatenate(axis=-1, name=name)


CONVS = {Conv2D: conv.conv2d, Conv2DTranspose: conv.conv2d_transpose}
POOLS = {"max": conv.maxpool2d, "avg": conv.avgpool2d}
ONE_LAYER = {GlobalAveragePooling2D: conv.global_avgpool2d, Flatten: conv.flatten,
             BatchNorm: norm.batchnorm, LSTM: recurrent.lstm, GRU: recurrent.gru,
             Bidirectional: recurrent.bidirectional, Add: add, Concatenate: concatenate,
             Embedding: transformer.embedding, PositionEmbedding: transformer.position_embedding,
             LayerNorm: transformer.layernorm}  # fmt: skip


def node_layers(task, spec, name, in_shape):
    """The Keras layers of one node, applied in order: Dense, Conv2D or Conv2DTranspose and its α
    layer, an activation, or one stock layer; none for a TiedOutput (its Embedding node's layer)."""
    if isinstance(spec, TiedOutput):
        return []
    if isinstance(spec, MultiHeadAttention):
        return [transformer.attention(spec, name, in_shape[-1])]
    if isinstance(spec, Activation):
        return activation_layers(spec, name)
    if type(spec) in CONVS:
        return [CONVS[type(spec)](spec, activation(spec), name), *alpha_layers(spec)]
    if isinstance(spec, Pool2D):
        return [POOLS[spec.kind](spec, name)]
    if type(spec) in ONE_LAYER:
        return [ONE_LAYER[type(spec)](spec, name)]
    return [dense(task, spec, name), *alpha_layers(spec)]


# ---- the network: the functional API, a tensor per node name ----


def build(task, params):
    """keras.Model(keras.Input, the last node's tensor) holding a copy of the canonical weights: each
    node's Keras layers called on the tensors of the nodes it reads. model.node_layers: the names of
    each node's Keras layers, in the task's node order (model.layers is Keras's order, by depth in the
    graph, after the InputLayer "x"). Its layers take the weights' dtype (floatx_of) and keep it."""
    with floatx_of(params):  # the Input's and the Model's too: a functional model casts x to them
        ids = "int64" if task.tokens else None  # token ids; else floatx
        tensors = {INPUT: keras.Input(shape=task.input_shape, dtype=ids, name=INPUT)}  # Keras 1/2: input_dim=
        layer_names, built = [], {}
        nodes = zip(task.layers, params, task.names, task.inputs, task.layer_shapes)
        for spec, weights, name, reads, (in_shape, _) in nodes:
            tensor = [tensors[read] for read in reads] if isinstance(spec, MERGES) else tensors[reads[0]]
            built[name] = layers = node_layers(task, spec, layer_name(name), in_shape)
            tensors[name] = call(spec, layers, tensor, built)  # KerasTensors; the calls build the variables
            load(layers, weights)
            layer_names.append(tuple(layer.name for layer in layers))
        model = keras.Model(tensors[INPUT], tensors[task.names[-1]])
    model.node_layers = tuple(layer_names)
    return model


def layer_name(node):
    """A node's name as a Keras layer's: "." as "_" (the torch backend keeps each layer's variables in a
    torch.nn.ParameterDict keyed by their paths, which refuses a "." : nanoGPT's "b0.attn" raises)."""
    return node.replace(".", "_")


def call(spec, layers, tensor, built):
    """The node's output: its layers called in order on `tensor`; attention as its own query, key and
    value, with the causal mask; a TiedOutput through its Embedding node's layer (`built`: each node's
    layers so far)."""
    if isinstance(spec, TiedOutput):
        return transformer.tied_output(built[spec.embedding][0], tensor)
    for layer in layers:
        attends = isinstance(layer, keras.layers.MultiHeadAttention)
        tensor = layer(tensor, tensor, use_causal_mask=spec.causal) if attends else layer(tensor)
    return tensor


def load(layers, weights):
    """One node's canonical weights into its Keras layers' variables (assign checks each shape), an
    attention layer's in its heads' shapes (transformer.attention_native)."""
    variables = node_params(layers)
    assert variables.keys() == weights.keys(), f"Keras has {sorted(variables)}, the node {sorted(weights)}"
    for layer in layers:
        native = weights
        if isinstance(layer, keras.layers.MultiHeadAttention):
            native = transformer.attention_native(layer, weights)
        for key, variable in layer_params(layer).items():
            variable.assign(native[key])


def get_params(model, grads=None):
    """The canonical weights of the model's nodes, NumPy, in the task's order; or `grads` (in the order
    of model.trainable_variables) the same way, trainable weights only: a BatchNorm node's gamma and
    beta, not its moving mean and variance."""
    arrays = arrays_by_variable(model, grads)
    return [node_arrays([model.get_layer(name) for name in names], arrays) for names in model.node_layers]


def node_arrays(layers, arrays):
    """One node's canonical arrays, from `arrays` by variable id (those it has); an attention layer's
    back from its heads' shapes (transformer.attention_canonical)."""
    node = {}
    for layer in layers:
        own = {key: arrays[id(v)] for key, v in layer_params(layer).items() if id(v) in arrays}
        attends = isinstance(layer, keras.layers.MultiHeadAttention)
        node |= transformer.attention_canonical(own) if attends else own
    return node


def arrays_by_variable(model, grads=None):
    """{id(variable): NumPy array}: every weight's value, or each trainable weight's gradient in
    `grads`. By id: == on a Keras variable compares its values."""
    if grads is None:
        return {id(v): numpy(v) for v in model.weights}
    return {id(v): numpy(g) for v, g in zip(model.trainable_variables, grads, strict=True)}


def numpy(value):
    """A NumPy copy (writeable) of a Keras variable or a backend tensor."""
    return np.array(ops.convert_to_numpy(value))


# ---- each Keras layer's variables under their canonical keys ----


def node_params(layers):
    """{canonical key: Keras variable} of one node's Keras layers; {} for a node without weights."""
    return {key: v for layer in layers for key, v in layer_params(layer).items()}


def dense_params(layer):
    """{"W": kernel (in, out), "b": bias (out,)} of a Dense; no "b" without a bias."""
    return {"W": layer.kernel, "b": layer.bias} if layer.use_bias else {"W": layer.kernel}


def prelu_params(layer):
    """{"alpha": α (fan_out,)}: one slope per unit."""
    return {"alpha": layer.alpha}


PARAMS = (
    (keras.layers.Dense, dense_params),
    (keras.layers.PReLU, prelu_params),
    ((keras.layers.Conv2D, keras.layers.Conv2DTranspose), conv.conv2d_params),
    ((keras.layers.LSTM, keras.layers.GRU), recurrent.recurrent_params),
    (keras.layers.Bidirectional, recurrent.bidirectional_params),
    (keras.layers.BatchNormalization, norm.batchnorm_params),
    (keras.layers.Embedding, transformer.embedding_params),  # ReversibleEmbedding too
    (transformer.Positions, transformer.position_params),
    (keras.layers.LayerNormalization, transformer.layernorm_params),
    (keras.layers.MultiHeadAttention, transformer.attention_params),
)


def layer_params(layer):
    """{canonical key: Keras variable} of one Keras layer; {} for pooling, Flatten, an activation, a merge."""
    for kinds, params in PARAMS:
        if isinstance(layer, kinds):
            return params(layer)
    return {}


def forward(task, params, x):
    """The network's output (pre-loss: logits for the cross-entropies), NumPy; inference mode
    (BatchNormalization's moving statistics)."""
    x = validate.forward_call(task, params, x)
    with floatx_of(params):
        model = build(task, params)
        output = OUTPUT.get(keras.backend.backend(), model_output)
        return ops.convert_to_numpy(output(model, as_dtype(x, params)))


def model_output(model, x):
    return model(x, training=False)


def jax_output(model, x):
    import jax

    def output_of(trainable, fixed):  # a pure function of the weights, as in jax_gradient below
        return model.stateless_call(trainable, fixed, x, training=False)[0]

    # one compiled program, as predict's; op by op, every op's first shape compiles on its own. Not
    # predict itself: it donates the variables' buffers, and two variables holding one array (a head
    # assigned the embedding's table) fail with "Attempt to donate the same buffer twice"
    trainable = [v.value for v in model.trainable_variables]
    return jax.jit(output_of)(trainable, [v.value for v in model.non_trainable_variables])


OUTPUT = {"jax": jax_output}  # TensorFlow and torch: the model called eagerly, as a user calls it


@contextlib.contextmanager
def floatx_of(params):
    """Keras creates variables, losses, metrics and optimizer state, and casts inputs, in the global
    floatx (default float32); layers take the global dtype policy, which Keras fixes from floatx the
    first time a layer is built. Set both to the weights' dtype for this call only, then restore them."""
    dtype, previous = str(dtype_of(params)), (keras.config.floatx(), keras.config.dtype_policy())
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        with float64_fixes.type_promotion(dtype):
            yield
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


# ---- losses, called (y_true, y_pred) as Keras's are (torch's order is the reverse) ----


def loss_value(task, out, y):
    """The task's loss of the output `out` (N, K), as fit computes it: Keras's loss times its weight."""
    loss, weight = keras_loss(task)
    return weight * loss(y, out)


def keras_loss(task):
    """(a Keras loss, the loss_weights compile takes) for the task's loss."""
    if task.loss == "multitask":
        return multitask(task), 1.0  # compile takes a function (y_true, y_pred) as a loss
    loss, weight = named_loss(task.loss, task.n_out)
    return (on_the_output(loss) if task.loss in LOGITS else loss), weight


LOGITS = ("bce_logits", "softmax_ce")  # the cross-entropies on logits


def named_loss(name, k):
    """(a keras.losses object, its weight) for a loss of rosetta.tasks.LOSSES on K outputs."""
    if name == "half_sse":  # ½Σ(out − y)² = Σ over rows of the mean over K, times K/2
        return keras.losses.MeanSquaredError(reduction="sum"), k / 2
    if name == "sse_2n":  # Σ(out − y)²/(2N) = the mean over all N·K, times K/2
        return keras.losses.MeanSquaredError(), k / 2
    if name == "mse":
        return keras.losses.MeanSquaredError(), 1.0  # mean over all N·K
    # from_logits=True: without it Keras reads the output as probabilities and clips them at 1e-7
    if name == "bce_logits":
        return keras.losses.BinaryCrossentropy(from_logits=True), 1.0
    if name == "softmax_ce":  # labels (N,), logits (N, K); per position (N, T), (N, T, K): mean over N·T
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), 1.0
    raise unknown("loss", name, LOSSES)


def on_the_output(loss):
    """The loss of the output itself. TensorFlow's cross-entropies, from_logits=True or not, take a
    sigmoid output's own input in its place (the `_keras_logits` the activation stores on it, or the
    Sigmoid op's input in a tf.function: docs/divergences.md, logits-path/keras), so a last layer's
    sigmoid would be skipped; ops.copy (tf.identity) hands them a tensor that is only the output."""
    return lambda y_true, y_pred: loss(y_true, ops.copy(y_pred))


def multitask(task):
    """w₁·MSE(regression columns) + w₂·CE(one-hot class columns) of one output (N, R + K)."""
    r, (w1, w2) = task.n_regression, task.loss_weights

    def loss(y_true, y_pred):
        mse = keras.losses.mean_squared_error(y_true[:, :r], y_pred[:, :r])  # (N,): mean over R
        ce = keras.losses.categorical_crossentropy(y_true[:, r:], y_pred[:, r:], from_logits=True)  # (N,)
        return w1 * ops.mean(mse) + w2 * ops.mean(ce)

    return loss


def l2_penalty(task):
    """λ·ΣW² over the kernels, as Keras adds it to the loss: a kernel regularizer (None if λ = 0)."""
    return float64_fixes.l2(task.l2) if task.l2 else None  # keras.regularizers.L2(λ)


def total_loss(model, loss_fn, x, y, training=None):
    """The loss incl. L2, as fit computes it: loss_fn(y, out) plus the regularizers' model.losses.
    training=True: fit's mode (BatchNormalization normalizes with the batch's statistics)."""
    loss = loss_fn(y, model(x, training=training))
    return loss + ops.sum(model.losses) if model.losses else loss


# ---- the gradient: each backend's own mechanism, one function each ----


def tensorflow_gradient(model, loss_fn, x, y, training=None):
    import tensorflow as tf

    with tf.GradientTape() as tape:  # records the ops on the trainable variables
        loss = total_loss(model, loss_fn, x, y, training)
    return loss, tape.gradient(loss, model.trainable_variables)


def jax_gradient(model, loss_fn, x, y, training=None):
    import jax

    # BatchNormalization's moving statistics, an RNN's dropout SeedGenerator state
    fixed = [v.value for v in model.non_trainable_variables]

    def loss_of(trainable):  # a pure function of the weights: stateless_call, not model(x)
        out, _, losses = model.stateless_call(trainable, fixed, x, training=training, return_losses=True)
        return loss_fn(y, out) + sum(losses)

    # compiled once, as Keras's JAX training loops jit their stateless step: op by op, a recurrent
    # layer's scan and every op's first shape would compile one at a time
    return jax.jit(jax.value_and_grad(loss_of))([v.value for v in model.trainable_variables])


def torch_gradient(model, loss_fn, x, y, training=None):
    loss = total_loss(model, loss_fn, x, y, training)
    loss.backward()  # fills each variable's .value.grad, shaped like the variable
    return loss, [v.value.grad for v in model.trainable_variables]


GRADIENT = {"tensorflow": tensorflow_gradient, "jax": jax_gradient, "torch": torch_gradient}


def loss_and_grads(task, params, x, y):
    """The loss (with any L2 term) and its gradient with respect to every trainable weight, canonical;
    training mode, as a step of fit: BatchNormalization normalizes with the batch's statistics (and
    moves its moving statistics, in this model only)."""
    x, y = validate.loss_call(task, params, x, y)
    with floatx_of(params):
        model = build(task, params)
        gradient = GRADIENT[keras.backend.backend()]
        loss_fn = lambda y_true, out: loss_value(task, out, y_true)  # noqa: E731
        loss, grads = gradient(model, loss_fn, as_dtype(x, params), as_dtype(y, params), training=True)
        return float(ops.stop_gradient(loss)), get_params(model, grads)
