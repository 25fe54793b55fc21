"""The classification widget's layers: which open layers are 2-D images it can classify, the chosen one as the
core's input, and the class-activation map drawn over it (one semi-transparent Image layer on the image's grid).

The map comes from :class:`~napari_medai.core.tasks.classify.ImageClassification` (``cam``, on the input
image's pixel grid, 0..1); nothing is computed here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.errors import InvalidInputError
from ..layers import META_KEY, layer_to_volume

#: Name of the map layer (one, replaced for each result).
MAP_PREFIX = "activation map"
#: How the map is drawn: warm colours added over the grey image (zero adds nothing), half transparent.
MAP_STYLE = {"colormap": "inferno", "blending": "additive", "opacity": 0.6, "contrast_limits": (0.0, 1.0)}


def map_name(cls: str) -> str:
    """``"activation map: pneumonia"``."""
    return f"{MAP_PREFIX}: {cls}"


def is_map(layer: Any) -> bool:
    """A layer this widget made (an activation map): never offered as an image to classify."""
    return ((getattr(layer, "metadata", None) or {}).get(META_KEY, {}) or {}).get("role") == "activation map"


def is_grey_rgb(data: np.ndarray) -> bool:
    """An RGB(A) array whose colour channels are equal (a grey image saved in colour)."""
    return data.ndim == 3 and data.shape[-1] in (3, 4) and bool(np.all(data[..., 0] == data[..., 1])
                                                               and np.all(data[..., 1] == data[..., 2]))


def classifiable_names(viewer: Any) -> list[str]:
    """The open Image layers that are 2-D (grey, or RGB holding grey) and not a map of ours."""
    from napari.layers import Image

    names = []
    for ly in viewer.layers:
        if not isinstance(ly, Image) or is_map(ly):
            continue
        nd = ly.data.ndim - (1 if getattr(ly, "rgb", False) else 0)
        if nd == 2:
            names.append(ly.name)
    return names


def image_input(layer: Any) -> Any:
    """The layer as the classifier's input: a 2-D Volume with the layer's geometry (grey RGB -> one channel).

    Raises
    ------
    InvalidInputError
        A 3-D image, or an RGB layer with real colour.
    """
    data = np.asarray(layer.data)
    if getattr(layer, "rgb", False):
        if not is_grey_rgb(data):
            raise InvalidInputError(f"'{layer.name}' is a colour image; the classifier reads grey radiographs "
                                    "(open the file with the napari-medai reader, or choose a grey image)")
        vol = layer_to_volume(_GreyView(layer, data[..., 0]))
        return vol
    if data.ndim != 2:
        raise InvalidInputError(f"'{layer.name}' has {data.ndim} dimensions; the classifier takes one 2-D image "
                                "(a radiograph or one slice)")
    return layer_to_volume(layer)


class _GreyView:
    """A grey layer's first colour channel, with the layer's own transform (for :func:`layer_to_volume`)."""

    def __init__(self, layer: Any, data: np.ndarray) -> None:
        self._layer = layer
        self.data = data
        self.name = layer.name
        self.metadata = layer.metadata

    def data_to_world(self, position: Any) -> Any:
        pos = np.asarray(position, dtype=float)
        return self._layer.data_to_world(pos)


def replace_image(layer: Any, path: str) -> bool:
    """Show the image file ``path`` in ``layer`` (the image an earlier table row opened), as File > Open with the
    napari-medai reader would: data, name, scale, origin, window and metadata.

    Replacing the data of a layer spares napari's removal of the old one (a full garbage collection, seconds on a
    busy machine) and the creation of a new one. Returns False, changing nothing, when the reader does not give one
    plain 2-D grey image for ``path`` (the caller then opens it as a new layer).
    """
    from ..reader import get_reader_auto

    reader = get_reader_auto(path)
    if reader is None or getattr(layer, "rgb", False):
        return False
    tuples = reader(path)
    if len(tuples) != 1:
        return False
    data, kw, kind = tuples[0]
    if kind != "image" or np.ndim(data) != 2 or "channel_axis" in kw or "affine" in kw:
        return False
    layer.data = data
    layer.scale = kw.get("scale", (1.0, 1.0))
    layer.translate = kw.get("translate", (0.0, 0.0))
    layer.metadata = kw.get("metadata", {})
    layer.reset_contrast_limits_range()
    if kw.get("contrast_limits") is not None:
        layer.contrast_limits = kw["contrast_limits"]
    else:
        layer.reset_contrast_limits()
    layer.name = kw.get("name") or layer.name
    return True


def add_or_update_map(viewer: Any, image_layer: Any, cam: np.ndarray, cls: str, old: Any = None) -> Any:
    """Show ``cam`` (0..1, on ``image_layer``'s pixel grid) over the image as :data:`MAP_STYLE`; the map layer.

    ``old``: the map layer of an earlier result; replaced (data, name, geometry) when it is still open, so
    the viewer holds one map at a time.
    """
    cam = np.asarray(cam, dtype=np.float32)
    shape = tuple(np.asarray(image_layer.data).shape[:2])
    if cam.shape != shape:
        raise InvalidInputError(f"the activation map ({cam.shape}) is not on '{image_layer.name}''s grid {shape}")
    meta = {META_KEY: {"role": "activation map", "class": cls, "image": image_layer.name}}
    # the image layer's whole data -> world transform, so the map lies on the image wherever it was moved
    geometry = {"scale": image_layer.scale, "translate": image_layer.translate, "rotate": image_layer.rotate,
                "shear": image_layer.shear, "affine": image_layer.affine}
    if old is not None and old in viewer.layers:
        old.data = cam
        old.name = map_name(cls)
        old.metadata = meta
        for key, value in geometry.items():
            setattr(old, key, value)
        old.visible = True
        top = len(viewer.layers)
        if viewer.layers.index(old) != top - 1:  # over the image (a row's image may have been opened after it)
            viewer.layers.move(viewer.layers.index(old), top)
        return old
    return viewer.add_image(cam, name=map_name(cls), metadata=meta, **geometry, **MAP_STYLE)


__all__ = ["MAP_PREFIX", "MAP_STYLE", "add_or_update_map", "classifiable_names", "image_input", "is_grey_rgb",
           "is_map", "map_name", "replace_image"]
