"""napari-medai: run, train and audit medical-imaging AI in napari.

Importing the package imports neither torch, Qt nor napari; the heavy parts load on use.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
