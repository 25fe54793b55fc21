"""File > Open Sample > napari-medai: the package's own seeded phantoms, one per clinical task."""

from __future__ import annotations

from ..core.phantoms import make_phantom
from .layers import volume_to_layer_data
from .orientation import install_on_current_viewer


def _sample(name: str) -> list[tuple]:
    layers: list[tuple] = []
    for vol in make_phantom(name, seed=0).values():
        layers.extend(volume_to_layer_data(vol))
    install_on_current_viewer()  # orientation labels, superior up, window shortcuts
    return layers


def brain_tumour() -> list[tuple]:
    return _sample("brain_tumour")


def stroke() -> list[tuple]:
    """DWI, ADC (10^-6 mm^2/s), FLAIR on its own anisotropic grid and the infarct labels."""
    return _sample("stroke")


def stroke_cta() -> list[tuple]:
    """A CT angiography head in HU with an ischaemic territory and its labels."""
    return _sample("stroke_cta")


def cardiac_ct() -> list[tuple]:
    return _sample("cardiac_ct")


def ldct() -> list[tuple]:
    return _sample("ldct")


def alzheimer_cohort() -> list[tuple]:
    return _sample("alzheimer_cohort")
