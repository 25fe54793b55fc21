"""What the LDCT tabs share: layer choices, putting results back as layers, small Qt factories."""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Image, Shapes
from qtpy.QtWidgets import QComboBox

from ...core.errors import InvalidInputError
from ..layers import META_KEY, layer_to_volume, put_layer, volume_to_layer_data

#: Combo-box entry for "no layer".
NONE = "none"
#: Train tab's low-dose entry: simulate the low dose from the full dose.
SIMULATE = "simulate it from the full dose"
#: Where the tools' messages send a user who has no CT open.
OPEN_HINT = "open a CT in HU, e.g. File > Open Sample > napari-medai > Low-dose / full-dose CT pair"


# ------------------------------------------------------------------------------------------ layers
def image_layer(viewer: Any, name: str, what: str) -> Any:
    """The Image layer ``name``, checked to be a 2-D slice or 3-D stack; else a message saying why."""
    if not name or name in (NONE, SIMULATE) or name not in viewer.layers:
        raise InvalidInputError(f"pick the {what} image layer first ({OPEN_HINT})")
    layer = viewer.layers[name]
    if not isinstance(layer, Image):  # isinstance, not type(): a plugin widget gets napari's public proxies
        kind = layer.__class__.__name__  # the proxy reports the wrapped layer's class
        raise InvalidInputError(f"{name!r} is a {kind} layer, not an image; pick a CT image in HU")
    modality = str(((layer.metadata or {}).get(META_KEY) or {}).get("modality") or "unknown")
    if modality.upper() not in ("CT", "UNKNOWN", ""):
        raise InvalidInputError(f"{name!r} is not a CT (modality {modality}); the LDCT tools take a CT in HU: "
                                f"{OPEN_HINT}")
    if getattr(layer, "rgb", False):
        raise InvalidInputError(f"{name!r} is an RGB picture; pick a CT image in HU")
    if getattr(layer, "multiscale", False):
        raise InvalidInputError(f"{name!r} is multiscale; open it at one resolution")
    shape = np.shape(layer.data)
    if len(shape) not in (2, 3):
        raise InvalidInputError(f"{name!r} has {len(shape)} dimensions {shape}; the LDCT tools take a 2-D slice "
                                "or a 3-D stack (slices, rows, columns): split channels or time points first")
    return layer


def layer_names(viewer: Any, kind: type) -> list[str]:
    """Names of the viewer's layers of ``kind`` (e.g. ``napari.layers.Image``), in the layer list's order.

    ``isinstance``, never ``type(layer).__name__``: a widget opened from the Plugins menu sees napari's
    ``PublicOnlyProxy`` of each layer, whose type is the proxy's.
    """
    return [ly.name for ly in viewer.layers if isinstance(ly, kind)]


def image_names(viewer: Any) -> list[str]:
    """The viewer's Image layers."""
    return layer_names(viewer, Image)


def shapes_names(viewer: Any) -> list[str]:
    """The viewer's Shapes layers (regions of interest)."""
    return layer_names(viewer, Shapes)


def ct_volume(layer: Any) -> Any:
    """The layer as a :class:`~napari_medai.core.volume.Volume`, a CT in HU unless it says otherwise."""
    vol = layer_to_volume(layer)
    if vol.modality in ("", "unknown"):
        vol = vol.with_data(vol.data, modality="CT", units=vol.units or "HU")
    return vol


def put_image(viewer: Any, vol: Any, like: Any, **extra: Any) -> Any:
    """Add ``vol`` as an Image layer with ``like``'s contrast; a layer of its name on the same grid (an earlier
    result's) gets the new data in place (:func:`~napari_medai._napari.layers.put_layer`)."""
    data, kw, _ = volume_to_layer_data(vol)[0]
    kw["contrast_limits"] = tuple(like.contrast_limits)
    kw.update(extra)
    return put_layer(viewer, data, kw, "image")


#: Combo-box property holding the entry ``refill`` chose by itself (not the user).
_AUTO = "medai_auto_choice"


def refill(combo: QComboBox, names: list[str], *, hints: tuple[str, ...], first_hit: bool = False) -> None:
    """Replace the items of ``combo``; keep the user's choice, else pick the best name matching a hint.

    A choice the widget made by itself (the best match so far, or simply the first layer) gives way when
    a better-matching layer arrives: layers of a sample or a folder come one by one, and the low-dose
    input must not stay on the full dose that happened to arrive first. A choice the user made stays.
    """
    if not combo.property(_AUTO + "_watched"):  # a pick from the list by the user is the user's choice
        combo.activated.connect(lambda _i: combo.setProperty(_AUTO, None))
        combo.setProperty(_AUTO + "_watched", True)
    current = combo.currentText()
    chosen_by_user = current not in (NONE, SIMULATE, "") and current != combo.property(_AUTO)
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    combo.blockSignals(False)
    if current in names:
        combo.setCurrentText(current)
        if chosen_by_user:
            return
    pick = None
    for hint in hints:
        hit = [n for n in names if hint in n.lower()]
        if hit:
            pick = hit[0] if first_hit else min(hit, key=len)
            break
    if pick is not None:
        combo.setCurrentText(pick)
    if combo.currentText() not in (NONE, SIMULATE):
        combo.setProperty(_AUTO, combo.currentText())
    if combo.currentText() != current:
        combo.currentTextChanged.emit(combo.currentText())
