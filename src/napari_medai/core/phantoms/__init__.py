"""Synthetic sample data: one seeded phantom per clinical task.

Every generator takes keyword-only options (``seed=0`` and sizes) and returns a ``dict`` of
:class:`~napari_medai.core.volume.Volume`, images first and ground truth last, on grids centred at
the world origin with identity direction (array axes (z, y, x) = superior, posterior, patient left;
see :mod:`napari_medai.core.volume`). The same seed always gives the same arrays.

================== ==========================================================================
name               content
================== ==========================================================================
brain_tumour       4-sequence brain MRI (flair, t1, t1c, t2), brain mask, BraTS 2021 labels
stroke             DWI (b = 1000), ADC and FLAIR (own grid) of four infarcts, infarct labels
stroke_cta         CT angiography head (HU) with an ischaemic territory, ischaemia labels
cardiac_ct         non-contrast cardiac CT with coronary calcium of known Agatston score
ldct               abdominal CT slab, noise-free full dose and simulated quarter dose
alzheimer_cohort   12 T1 brains, half AD with planted hippocampal/ventricular atrophy
================== ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidInputError
from ..volume import Volume
from .alzheimer import alzheimer_cohort_phantom
from .brain_tumour import brain_tumour_phantom
from .cardiac_ct import cardiac_ct_phantom
from .ldct import ldct_phantom
from .stroke import stroke_cta_phantom, stroke_phantom

__all__ = [
    "PHANTOMS",
    "make_phantom",
    "brain_tumour_phantom",
    "stroke_phantom",
    "stroke_cta_phantom",
    "cardiac_ct_phantom",
    "ldct_phantom",
    "alzheimer_cohort_phantom",
]

#: Registry of the phantom generators by name (the names of File > Open Sample).
PHANTOMS: dict[str, Callable[..., dict[str, Volume]]] = {
    "brain_tumour": brain_tumour_phantom,
    "stroke": stroke_phantom,
    "stroke_cta": stroke_cta_phantom,
    "cardiac_ct": cardiac_ct_phantom,
    "ldct": ldct_phantom,
    "alzheimer_cohort": alzheimer_cohort_phantom,
}


def make_phantom(name: str, *, seed: int = 0) -> dict[str, Volume]:
    """Build the phantom called ``name`` with default sizes.

    Parameters
    ----------
    name
        One of the keys of :data:`PHANTOMS`.
    seed
        Random seed passed to the generator.

    Returns
    -------
    dict of str to Volume
        Images first, then ground truth.

    Raises
    ------
    InvalidInputError
        When ``name`` is not a known phantom (the message lists the valid names).
    """
    try:
        generator = PHANTOMS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(PHANTOMS))
        raise InvalidInputError(f"unknown phantom {name!r}; choose one of: {valid}") from None
    return generator(seed=seed)
