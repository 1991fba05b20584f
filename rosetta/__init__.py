"""nn-rosetta's tools above the four framework packages: the CLI (compare, parity, bench, diff,
check), the runs and their plots, and port-check (`rosetta.check`). NumPy only at import."""


def check(a, b, x, y=None, loss=None, optimizer=None, steps=0):
    """Compare two models (torch, Keras, Flax NNX or canonical) block by block: forward, loss,
    gradients and `steps` optimizer steps; see rosetta.portcheck and docs/porting.md. Imports the
    frameworks only when called."""
    from rosetta.portcheck import check as run

    return run(a, b, x, y, loss, optimizer, steps)
