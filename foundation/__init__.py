"""The foundation every framework package stands on: the tasks and their catalog, the data, the
initial weights, the canonical layouts and weight files, argument checks, tolerances, errors, and the
registry of frameworks. It imports no framework and nothing of rosetta/."""
