"""File > Open Sample > napari-medai: the package's own seeded phantoms, one per clinical task."""

from __future__ import annotations

from functools import lru_cache

from ..core.phantoms import make_phantom
from ..core.volume import Volume
from .layers import volume_to_layer_data
from .orientation import install_on_current_viewer


@lru_cache(maxsize=1)
def _phantom(name: str) -> dict[str, Volume]:
    """The last sample built (seeded, so the same each time): a second Open Sample of it does not build it
    again on the GUI thread (about a second for the brain-tumour phantom)."""
    return make_phantom(name, seed=0)


def _sample(name: str) -> list[tuple]:
    layers: list[tuple] = []
    for vol in _phantom(name).values():  # copies: a layer the user paints on must not change the next sample
        layers.extend(volume_to_layer_data(vol.with_data(vol.data.copy())))
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
