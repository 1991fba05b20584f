"""One adapter per framework: the only code that knows that framework. `adapt` picks one by the
model's type without importing any framework the model does not come from."""

from rosetta.portcheck.layers import NotSupported


def framework_of(model):
    if isinstance(model, tuple) and len(model) == 2:
        return "canonical"
    bases = [c.__module__ for c in type(model).__mro__]
    if any(base.startswith("keras") for base in bases):  # first: on torch a Keras model is an nn.Module
        return "keras"
    if any(base.startswith("torch.nn") for base in bases):
        return "torch"
    if any(base.startswith("flax") for base in bases):
        return "flax"
    raise NotSupported(f"not supported yet: a model of type {type(model).__name__}")


def adapter(framework):
    """The adapter module of `framework`: its Model class and loss_function."""
    import importlib

    return importlib.import_module(f"rosetta.portcheck.adapters.{framework}")


def adapt(model):
    framework = framework_of(model)
    module = adapter(framework)
    cls = {"canonical": "CanonicalModel", "torch": "TorchModel", "keras": "KerasModel", "flax": "FlaxModel"}
    return getattr(module, cls[framework])(model), module.loss_function
