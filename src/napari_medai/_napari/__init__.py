"""Thin napari adapters: reader/writer hooks, sample data, widgets. Core logic lives in ``core``."""
