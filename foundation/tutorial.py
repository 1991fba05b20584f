"""What each tutorial printed, reproduced with any framework: `python -m <package> TASK`."""

import sys

import numpy as np

from foundation import catalog, history
from foundation.errors import UnknownNameError


def eleven_lines(fw, task, params, x, y):
    """iamtrask: "Error:" mean|y − out| every 10000 steps, or the output after training."""
    if task.name == "perceptron":
        params, _ = fw.train(task, params, task.steps - 1)  # the tutorial prints l1 of its last step
        print("Output after training:\n", fw.forward(task, params, x))
        return
    for _ in range(task.steps // 10000):
        print(f"Error:{np.mean(np.abs(y - fw.forward(task, params, x))):.12g}")
        params, _ = fw.train(task, params, 10000, 500)  # full-batch plain SGD: segments chain exactly


def lego(fw, task, params, x, y):
    """The worked example (output on X[0] before training), then loss and accuracy."""
    print("output on X[0]:", fw.forward(task, params, x[:1])[0])
    params, history = fw.train(task, params)
    for step in range(0, task.steps, 1000):
        print(f"step {step:5d}  loss {history['loss'][step]:.6f}")
    print(f"training accuracy: {task.evaluate(fw.forward(task, params, x), y):.4f}")


def function_approximation(fw, task, params, x, y):
    """The weights (the tutorial's get_weights for the one-neuron fits) and the final MSE; the loss
    read per window of steps, as `rosetta compare` reads it (Keras: one execution each)."""
    params, _ = fw.train(task, params, every=history.every(task.steps))
    if len(params) == 1:
        print(f"w = {params[0]['W'].item():.8f}  b = {params[0]['b'].item():.8f}")
    print(f"MSE on the grid after {task.epochs} epochs: {task.evaluate(fw.forward(task, params, x), y):.6f}")


def softmax(fw, task, params, x, y):
    params, history = fw.train(task, params)
    for step in range(0, task.steps, 100):
        print(f"iteration {step:4d}: loss {history['loss'][step]:.6f}")
    print(f"training accuracy: {task.evaluate(fw.forward(task, params, x), y):.2f}")


def handbook(fw, task, params, x, y):
    """The handbook's heads, the 8-3-8 autoencoder, the CNN and recurrent nets: the loss every tenth of
    the run, then the metric."""
    params, history = fw.train(task, params)
    for step in range(0, task.steps, task.steps // 10):
        print(f"step {step:5d}  loss {history['loss'][step]:.6f}")
    print(f"{task.metric} on the training data: {task.evaluate(fw.forward(task, params, x), y):.4f}")


FAMILIES = {f.__name__: f for f in [eleven_lines, lego, function_approximation, softmax, handbook]}
FAMILIES.update(cnn=handbook, recurrent=handbook)  # the architectures talk: the same printout


def main(fw, argv=None):
    """Entry point of each framework package's __main__: `python -m impl_torch xor [float32]`."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(f"usage: python -m {fw.__name__} TASK [float64|float32]; tasks: {', '.join(catalog.names())}")
        return 2
    try:
        task = catalog.get(argv[0])
    except UnknownNameError as exc:
        print(exc, file=sys.stderr)
        return 2
    if task.family not in FAMILIES:
        print(f"{task.name} is not from a tutorial; tutorial tasks: {', '.join(catalog.names())}")
        return 2
    dtype = argv[1] if len(argv) > 1 else "float64"
    x, y = task.data()
    FAMILIES[task.family](fw, task, task.init_params(dtype), x, y)
    return 0
