"""The framework differences, measured: the catalog (catalog.py), and for each framework the
functions that measure its rows with its own code (of_torch.py, of_keras.py, of_jax.py)."""
