"""nn-rosetta's tools above the four framework packages: the CLI (compare, parity, bench, diff,
check, transfer), the runs and their plots, and port-check (`rosetta.check`, `rosetta.transfer`). NumPy
only at import."""


def check(a, b, x, y=None, loss=None, optimizer=None, steps=0):
    """Compare two models (torch, Keras, Flax NNX or canonical) block by block: forward, loss,
    gradients and `steps` optimizer steps; see rosetta.portcheck and docs/porting.md. Imports the
    frameworks only when called."""
    from rosetta.portcheck import check as run

    return run(a, b, x, y, loss, optimizer, steps)


def transfer(src, dst, x=None):
    """Copy a trained model's weights into its port (torch, Keras, Flax NNX or canonical, any direction),
    in place; returns the mapping it used (printable). Refuses in one line, writing nothing, what it
    cannot place; see rosetta.portcheck.transfer and docs/porting.md. Imports the frameworks only when
    called."""
    from rosetta.portcheck.transfer import transfer as run

    return run(src, dst, x)
