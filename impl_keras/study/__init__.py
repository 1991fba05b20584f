"""Each family's network written natively, one self-contained file per family (rosetta study)."""
