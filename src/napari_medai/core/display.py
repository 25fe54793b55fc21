"""Display conventions a radiologist expects, GUI-free: intensity windows and anatomical screen edges.

Windows
    A window is a centre and a width (``L`` / ``W`` in radiology), shown as the contrast limits
    ``(centre - width / 2, centre + width / 2)``. :func:`initial_window` is the one rule every reader
    follows: the DICOM file's own ``WindowCenter`` / ``WindowWidth`` (first value when multi-valued)
    when present; otherwise soft tissue (W400/L40) for CT in Hounsfield units; otherwise (MR, unknown)
    the 0.5-99.5 percentile of the non-zero voxels. :data:`WINDOW_PRESETS` are the usual CT presets.

Orientation
    World coordinates are LPS millimetres listed in reversed order ``(S, P, L)`` (see
    :mod:`napari_medai.core.volume`), whatever the layer's own direction: the layer's affine already
    maps its voxels there. So what lies at each edge of the screen depends only on which world axes are
    displayed and which way the screen's vertical and horizontal axes point.
    :func:`screen_edges` names the edges, :func:`preferred_vertical` says which way is up so that the
    superior end is at the top of coronal and sagittal views and anterior at the top of axial ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import InvalidInputError
from .volume import Volume

__all__ = [
    "PRESET_SHORTCUTS",
    "WINDOW_PRESETS",
    "Window",
    "VIEW_AXES",
    "dicom_window",
    "dims_order_for",
    "initial_window",
    "looks_like_hu",
    "orientation_known",
    "percentile_window",
    "preferred_vertical",
    "preset_window",
    "screen_edges",
    "view_name",
]

#: CT window presets, name -> (centre, width) in HU.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}

#: Keyboard shortcuts of the window presets (viewer-wide; ``DICOM`` and ``auto`` return to the stored windows).
PRESET_SHORTCUTS: dict[str, str] = {
    "brain": "Alt-1",
    "soft tissue": "Alt-2",
    "lung": "Alt-3",
    "bone": "Alt-4",
    "DICOM": "Alt-5",
    "auto": "Alt-6",
}

#: Below this fraction of air-like voxels (-1100..-900) an image without a modality is not taken for CT.
_AIR_FRACTION = 0.005


@dataclass(frozen=True)
class Window:
    """An intensity window: ``centre`` and ``width`` in image units, and where it came from."""

    centre: float
    width: float
    source: str

    @property
    def limits(self) -> tuple[float, float]:
        """Contrast limits ``(low, high)``."""
        return (self.centre - self.width / 2.0, self.centre + self.width / 2.0)

    def as_dict(self) -> dict[str, Any]:
        return {"centre": float(self.centre), "width": float(self.width), "source": self.source}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Window | None:
        if not d:
            return None
        try:
            return cls(float(d["centre"]), float(d["width"]), str(d.get("source", "")))
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        return f"W {self.width:g} / L {self.centre:g} ({self.source})"


def _sample(data: np.ndarray, per_axis: int = 64) -> np.ndarray:
    return np.asarray(data[tuple(slice(None, None, max(1, s // per_axis)) for s in data.shape)])


def looks_like_hu(data: np.ndarray) -> bool:
    """True when an image without a modality holds CT numbers: signed values with some air (-1100 to -900 HU)."""
    a = np.asarray(data)
    if a.size == 0 or a.dtype.kind not in "if":
        return False
    s = _sample(a)
    air = np.count_nonzero((s >= -1100) & (s <= -900))
    return bool(air >= _AIR_FRACTION * s.size and np.nanmax(s) > 0)


def _is_hu(vol: Volume) -> bool:
    if vol.modality.upper() == "CT" or vol.units.upper() == "HU":
        return True
    return vol.modality in ("", "unknown") and looks_like_hu(vol.data)


def dicom_window(meta: dict[str, Any]) -> Window | None:
    """The window a DICOM series carries (``meta["dicom"]``: first ``WindowCenter`` / ``WindowWidth``), or None."""
    d = (meta or {}).get("dicom") or {}
    try:
        c, w = float(d.get("WindowCenter", np.nan)), float(d.get("WindowWidth", np.nan))
    except (TypeError, ValueError):
        return None
    if not (np.isfinite(c) and np.isfinite(w) and w > 0):
        return None
    return Window(c, w, "DICOM")


def percentile_window(data: np.ndarray, *, low: float = 0.5, high: float = 99.5) -> Window | None:
    """The ``low``-``high`` percentile of the non-zero voxels (a sample of about 64 per axis), or None."""
    a = np.asarray(data)
    if a.size == 0 or a.dtype.kind not in "biuf":
        return None
    s = _sample(a)
    nz = s[(s != 0) & np.isfinite(s)] if s.dtype.kind == "f" else s[s != 0]
    if nz.size == 0:
        return None
    lo, hi = (float(v) for v in np.percentile(nz, [low, high]))
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return None
    return Window((lo + hi) / 2.0, hi - lo, "auto")


def initial_window(vol: Volume) -> Window | None:
    """The window an image opens with, the same for every reader.

    1. the DICOM ``WindowCenter`` / ``WindowWidth`` (first value) when the series has them;
    2. CT in HU (``modality == "CT"``, ``units == "HU"``, or no modality and air-like values): soft
       tissue W400/L40;
    3. otherwise (MR, unknown) the 0.5-99.5 percentile of the non-zero voxels (None when all are zero).
    """
    win = dicom_window(vol.meta)
    if win is not None:
        return win
    if _is_hu(vol):
        c, w = WINDOW_PRESETS["soft tissue"]
        return Window(c, w, "soft tissue")
    return percentile_window(vol.data)


def preset_window(name: str, *, stored: dict[str, Any] | None = None, data: np.ndarray | None = None) -> Window:
    """The window of preset ``name``: one of :data:`WINDOW_PRESETS`, ``"DICOM"`` or ``"auto"``.

    ``stored`` is the layer's window record (``{"initial": ..., "dicom": ...}`` as written by the layer
    conversion); ``"auto"`` returns to the window the image opened with (or the percentile window of
    ``data`` when none is stored), ``"DICOM"`` to the series' own window.

    Raises
    ------
    InvalidInputError
        For an unknown name, or ``"DICOM"`` on an image that has no DICOM window.
    """
    key = name.strip()
    low = key.lower()
    if low in WINDOW_PRESETS:
        c, w = WINDOW_PRESETS[low]
        return Window(c, w, low)
    stored = stored or {}
    if low == "dicom":
        win = Window.from_dict(stored.get("dicom"))
        if win is None:
            raise InvalidInputError("this image has no DICOM window (WindowCenter/WindowWidth); "
                                    "choose a preset or auto")
        return win
    if low == "auto":
        win = Window.from_dict(stored.get("initial"))
        if win is None and data is not None:
            win = percentile_window(data)
        if win is None:
            raise InvalidInputError("this image has no window to return to (all its voxels are zero)")
        return win
    raise InvalidInputError(f"unknown window preset {name!r}; choose one of "
                            + ", ".join([*WINDOW_PRESETS, "DICOM", "auto"]))


# ------------------------------------------------------------------------------------- orientation
def orientation_known(vol: Volume) -> bool:
    """False when the file said nothing about where the patient lies (``.npy`` / ``.raw`` arrays, DICOM
    slices without ImagePositionPatient / ImageOrientationPatient): no R/L A/P S/I letters for those."""
    meta = vol.meta or {}
    if meta.get("format") in ("npy", "raw"):
        return False
    sorted_by = str((meta.get("dicom") or {}).get("sorted_by", "position"))
    return not sorted_by.startswith("instance")


#: Letters at the low and high end of each reversed-LPS world axis (S, P, L).
_AXIS_LETTERS = (("I", "S"), ("A", "P"), ("R", "L"))

Vertical = Literal["up", "down"]
Horizontal = Literal["left", "right"]


def _check_axes(displayed: tuple[int, int]) -> tuple[int, int]:
    rows, cols = (int(a) for a in displayed)
    if rows not in (0, 1, 2) or cols not in (0, 1, 2) or rows == cols:
        raise InvalidInputError(f"displayed axes must be two different spatial axes 0..2 (S, P, L), got {displayed}")
    return rows, cols


def screen_edges(displayed: tuple[int, int], vertical: Vertical = "down",
                 horizontal: Horizontal = "right") -> dict[str, str]:
    """The anatomical direction at each screen edge of a 2-D view.

    Parameters
    ----------
    displayed
        The world axes shown as screen rows and columns, counted in the reversed-LPS spatial frame
        (0 = inferior->superior, 1 = anterior->posterior, 2 = right->left).
    vertical, horizontal
        Which way the screen axes point as their world coordinate grows (napari's camera
        ``orientation2d``; napari's default is ``("down", "right")``).

    Returns
    -------
    dict
        ``{"top": ..., "bottom": ..., "left": ..., "right": ...}``, each one of ``R L A P S I``.
    """
    rows, cols = _check_axes(displayed)
    lo_r, hi_r = _AXIS_LETTERS[rows]
    lo_c, hi_c = _AXIS_LETTERS[cols]
    top, bottom = (hi_r, lo_r) if str(vertical) == "up" else (lo_r, hi_r)
    left, right = (hi_c, lo_c) if str(horizontal) == "left" else (lo_c, hi_c)
    return {"top": top, "bottom": bottom, "left": left, "right": right}


def preferred_vertical(displayed: tuple[int, int]) -> Vertical:
    """``"up"`` when the rows show the inferior-superior axis (coronal, sagittal: superior at the top);
    ``"down"`` otherwise (axial: anterior at the top, the radiological convention)."""
    rows, _ = _check_axes(displayed)
    return "up" if rows == 0 else "down"


def view_name(displayed: tuple[int, int]) -> str:
    """``"axial"``, ``"coronal"`` or ``"sagittal"`` for the plane of the displayed axes."""
    rows, cols = _check_axes(displayed)
    hidden = ({0, 1, 2} - {rows, cols}).pop()
    return ("axial", "coronal", "sagittal")[hidden]


#: The spatial (S, P, L) axes shown as (rows, columns) in each standard view.
VIEW_AXES: dict[str, tuple[int, int]] = {"axial": (1, 2), "coronal": (0, 2), "sagittal": (0, 1)}


def dims_order_for(view: str, ndim: int) -> tuple[int, ...]:
    """napari's ``dims.order`` that shows ``view`` (axial, coronal, sagittal) of a viewer with ``ndim`` axes,
    whose last three are the spatial (S, P, L) axes; leading axes (time) stay first."""
    if view not in VIEW_AXES:
        raise InvalidInputError(f"unknown view {view!r}; choose one of " + ", ".join(VIEW_AXES))
    if ndim < 3:
        raise InvalidInputError(f"a {view} view needs a 3-D image; the viewer has {ndim} axes")
    off = ndim - 3
    rows, cols = VIEW_AXES[view]
    hidden = ({0, 1, 2} - {rows, cols}).pop()
    return (*range(off), off + hidden, off + rows, off + cols)
