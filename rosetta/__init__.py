"""nn-rosetta's shared core: tasks, canonical weights, tolerances and the CLI. NumPy only."""
