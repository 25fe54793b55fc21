"""Volume <-> napari layer conversion: the one place geometry crosses into the viewer.

A Volume's spacing becomes the layer ``scale``; an axis-aligned volume gets its origin as
``translate``; an oblique or flipped one gets ``affine = [[direction, origin], [0, 1]]`` so that
``world = direction @ (spacing * index) + origin`` exactly as in the core. The full geometry and
the header facts also travel in ``layer.metadata["napari_medai"]`` so that saving a layer gives the
source file's header back.

This module does not import napari itself (layer data tuples are plain tuples), so it can be used
by the reader before napari has created any layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.display import (
    Window,
    dicom_window,
    initial_window,
    orientation_known,
    percentile_window,
)
from ..core.volume import Volume

META_KEY = "napari_medai"

#: Colours of well-known label names (BraTS, CAC, lesions), RGBA 0..1.
_LABEL_COLOURS = {
    "NCR": (0.85, 0.2, 0.2, 1.0),
    "NETC": (0.85, 0.2, 0.2, 1.0),
    "NCR/NET": (0.85, 0.2, 0.2, 1.0),
    "necrosis": (0.85, 0.2, 0.2, 1.0),
    "ED": (0.2, 0.8, 0.2, 1.0),
    "SNFH": (0.2, 0.8, 0.2, 1.0),
    "oedema": (0.2, 0.8, 0.2, 1.0),
    "ET": (1.0, 0.85, 0.1, 1.0),
    "enhancing": (1.0, 0.85, 0.1, 1.0),
    "non-enhancing": (0.9, 0.45, 0.1, 1.0),
    "LM": (1.0, 0.3, 0.3, 1.0),
    "LAD": (0.3, 0.6, 1.0, 1.0),
    "LCX": (0.3, 0.9, 0.3, 1.0),
    "RCA": (1.0, 0.8, 0.2, 1.0),
    "non-coronary": (0.6, 0.6, 0.6, 1.0),
    "lesion": (1.0, 0.2, 0.6, 1.0),
    "infarct": (1.0, 0.2, 0.6, 1.0),
}


def geometry_meta(vol: Volume) -> dict[str, Any]:
    """Plain-data record of a volume's geometry and header facts (JSON-friendly)."""
    return {
        "spacing": list(vol.spacing),
        "origin": list(vol.origin),
        "direction": np.asarray(vol.direction).tolist(),
        "modality": vol.modality,
        "units": vol.units,
        "source": vol.source,
        "header": _jsonable(vol.meta),
        "label_names": {int(k): v for k, v in (vol.label_names or {}).items()},
        "channel_kind": vol.channel_kind,
        "orientation_known": orientation_known(vol),
    }


def _jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if isinstance(v, np.ndarray):
            out[k] = v.tolist()
        elif isinstance(v, (str, int, float, bool, type(None), list, tuple, dict)):
            out[k] = v
        elif isinstance(v, np.generic):
            out[k] = v.item()
    return out


def spatial_transform_kwargs(vol: Volume) -> dict[str, Any]:
    """``scale`` / ``translate`` / ``affine`` for the spatial axes of ``vol``."""
    nd = vol.ndim_spatial
    kw: dict[str, Any] = {"scale": tuple(vol.spacing)}
    if vol.is_axis_aligned:
        kw["translate"] = tuple(vol.origin)
    else:
        aff = np.eye(nd + 1)
        aff[:nd, :nd] = vol.direction
        aff[:nd, nd] = vol.origin
        kw["affine"] = aff
    return kw


def label_colormap(label_names: dict[int, str] | None) -> dict[int | None, tuple] | None:
    """A napari ``colormap`` dict for named labels, or None to keep napari's default."""
    if not label_names:
        return None
    cmap: dict[int | None, tuple] = {0: (0.0, 0.0, 0.0, 0.0)}
    rng = np.random.default_rng(7)
    for value, name in label_names.items():
        colour = _LABEL_COLOURS.get(name)
        if colour is None:
            colour = (*rng.uniform(0.3, 1.0, 3).tolist(), 1.0)
        cmap[int(value)] = colour
    cmap[None] = (0.5, 0.5, 0.5, 1.0)
    return cmap


def window_record(vol: Volume) -> dict[str, Any]:
    """The windows an image layer keeps in its metadata (``{"initial": ..., "dicom": ...}``), so that
    the presets ``auto`` and ``DICOM`` can return to them (see :mod:`napari_medai.core.display`)."""
    if vol.channel_axis is not None and vol.channel_kind == "channel":
        return {"initial": None, "dicom": None}
    initial = initial_window(vol)
    dicom = dicom_window(vol.meta)
    return {"initial": initial.as_dict() if initial is not None else None,
            "dicom": dicom.as_dict() if dicom is not None else None}


def label_features(label_names: dict[int, str] | None) -> dict[str, list] | None:
    """A Labels layer's ``features`` table (``index`` = label value, ``name``), which napari shows in the
    status bar on hover: ``2; name: ED`` instead of ``2``. Value 0 is ``background`` unless named."""
    if not label_names:
        return None
    names = {int(k): str(v) for k, v in label_names.items()}
    names.setdefault(0, "background")
    values = sorted(names)
    return {"index": values, "name": [names[v] for v in values]}


def volume_to_layer_data(vol: Volume, *, as_label: bool | None = None) -> list[tuple]:
    """napari ``LayerDataTuple`` list for a volume (one tuple; channels via ``channel_axis``)."""
    label = vol.is_label if as_label is None else as_label
    meta = {META_KEY: geometry_meta(vol)}
    kw: dict[str, Any] = {"name": vol.name, "metadata": meta}
    spatial = spatial_transform_kwargs(vol)
    if vol.channel_axis is not None and vol.channel_kind == "time":
        # time is a real (sliced) axis: prepend an identity-scaled dim
        step = float(vol.meta.get("time_step", 1.0) or 1.0)
        kw["scale"] = (step, *spatial["scale"])
        if "translate" in spatial:
            kw["translate"] = (0.0, *spatial["translate"])
        else:
            aff = np.eye(vol.ndim_spatial + 2)
            aff[1:, 1:] = spatial["affine"]
            kw["affine"] = aff
        kw["axis_labels"] = ("t", *_spatial_axis_labels(vol.ndim_spatial))
    else:
        kw.update(spatial)
        if vol.channel_axis is not None:
            kw["channel_axis"] = 0
            names = vol.channel_names or [f"{vol.name}[{i}]" for i in range(vol.n_channels)]
            kw["name"] = list(names)
            kw["metadata"] = [dict(meta) for _ in names]
    if label:
        features = label_features(vol.label_names)
        if features is not None:
            kw["features"] = features
        data = vol.data
        if not np.issubdtype(data.dtype, np.integer):
            data = data.astype(np.int32)
        cmap = label_colormap(vol.label_names)
        if cmap is not None:
            kw["colormap"] = _direct_colormap(cmap)
        kw.pop("channel_axis", None)
        kw["opacity"] = 0.6
        return [(data, kw, "labels")]
    if vol.channel_axis is None or vol.channel_kind == "time":
        record = window_record(vol)
        kw["metadata"][META_KEY]["window"] = record
        if record["initial"] is not None:
            kw["contrast_limits"] = Window.from_dict(record["initial"]).limits
    else:  # one layer per channel, each with its own percentile window
        limits = []
        for i in range(vol.n_channels):
            win = percentile_window(vol.data[i])
            limits.append(win.limits if win is not None else _full_range(vol.data[i]))
            kw["metadata"][i][META_KEY] = {**kw["metadata"][i][META_KEY],
                                           "window": {"initial": win.as_dict() if win else None, "dicom": None}}
        kw["contrast_limits"] = limits
    kw["colormap"] = "gray"
    if vol.channel_axis is not None and vol.channel_kind == "channel":
        kw["blending"] = "additive"
        kw["visible"] = [i == 0 for i in range(vol.n_channels)]
    return [(vol.data, kw, "image")]


def _full_range(data: np.ndarray) -> tuple[float, float]:
    lo, hi = (float(v) for v in (np.min(data), np.max(data))) if data.size else (0.0, 1.0)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _direct_colormap(cmap: dict) -> Any:
    """Build napari's DirectLabelColormap lazily (keeps this module importable without napari)."""
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict=cmap)


def _spatial_axis_labels(nd: int) -> tuple[str, ...]:
    return ("z", "y", "x")[-nd:]


def layer_to_volume(layer: Any, *, reference: Volume | None = None) -> Volume:
    """Rebuild a Volume from a napari Image/Labels layer, geometry included.

    The geometry comes from the layer's own transform (``scale``, ``translate``, ``affine``), so a
    layer the user moved keeps the move; the header facts (NIfTI codes, modality) come from the
    metadata record when present, else from ``reference``.
    """
    data = np.asarray(layer.data)
    nd = data.ndim
    if nd not in (2, 3):
        raise ValueError(f"layer {layer.name!r} has {nd} dimensions; only 2-D and 3-D layers convert")
    # Probe the layer's full data->world transform with its public mapping: exact for any
    # combination of scale, translate, rotate, shear and affine.
    origin = np.asarray(layer.data_to_world(np.zeros(nd)), dtype=float)
    columns = np.stack(
        [np.asarray(layer.data_to_world(np.eye(nd)[i]), dtype=float) - origin for i in range(nd)], axis=1
    )
    spacing = np.linalg.norm(columns, axis=0)
    spacing[spacing == 0] = 1.0
    direction = columns / spacing
    md = (getattr(layer, "metadata", None) or {}).get(META_KEY, {})
    header = dict(md.get("header", {})) if md else (dict(reference.meta) if reference is not None else {})
    modality = md.get("modality") if md else (reference.modality if reference is not None else "unknown")
    units = md.get("units", "") if md else (reference.units if reference is not None else "")
    from napari.layers import Labels

    # isinstance, not type().__name__: widgets opened from the Plugins menu see PublicOnlyProxy layers
    is_label = isinstance(layer, Labels)
    label_names = {int(k): v for k, v in md.get("label_names", {}).items()} if md else None
    return Volume(
        data=data,
        spacing=tuple(spacing),
        origin=tuple(origin),
        direction=direction,
        is_label=is_label,
        modality=modality or "unknown",
        units=units or "",
        name=layer.name,
        source=None,
        meta=header,
        label_names=label_names or None,
    )


def put_layer(viewer: Any, data: Any, kw: dict[str, Any], kind: str) -> Any:
    """Add the layer ``(data, kw, kind)`` (a :func:`volume_to_layer_data` tuple), or, when a layer of its name
    and kind lies on the same grid already, give that layer the new data, metadata and display in place; the
    layer.

    Replacing costs the GUI thread much more: napari runs a full garbage collection when it removes a layer,
    then builds the new one's visuals, controls and list row (about 130 + 200 ms of CPU on a busy 2-core
    machine, against about 30 ms for new data). The layer keeps its place in the layer list."""
    from napari.layers import Image, Labels

    name = kw.get("name")
    old = viewer.layers[name] if isinstance(name, str) and name in viewer.layers else None
    cls = {"image": Image, "labels": Labels}.get(kind)
    if old is not None and cls is not None and isinstance(old, cls) and _same_grid(old, np.shape(data), kw) \
            and not getattr(old, "multiscale", False) and not getattr(old, "rgb", False):
        old.metadata = kw.get("metadata", {})
        old.data = data
        if "features" in kw:
            old.features = kw["features"]
        for attr in ("colormap", "blending", "opacity"):
            if attr in kw:
                setattr(old, attr, kw[attr])
        if kind == "image":
            if "contrast_limits" in kw:
                lo, hi = (float(v) for v in kw["contrast_limits"])
                rlo, rhi = old.contrast_limits_range
                old.contrast_limits_range = (min(lo, rlo), max(hi, rhi))
                old.contrast_limits = (lo, hi)
            else:
                old.reset_contrast_limits_range()
                old.reset_contrast_limits()
        old.visible = kw.get("visible", True)
        return old
    if old is not None:
        viewer.layers.remove(old)
    return getattr(viewer, f"add_{kind}")(data, **kw)


def _same_grid(layer: Any, shape: tuple[int, ...], kw: dict[str, Any]) -> bool:
    """Whether ``layer`` has the shape and the data-to-world transform that ``kw`` would give a new layer."""
    if tuple(np.shape(layer.data)) != tuple(shape) or "channel_axis" in kw:
        return False
    nd = len(shape)
    scale = np.asarray(kw.get("scale", np.ones(nd)), dtype=float)
    translate = np.asarray(kw.get("translate", np.zeros(nd)), dtype=float)
    affine = np.asarray(kw.get("affine", np.eye(nd + 1)), dtype=float)
    return (np.allclose(layer.scale, scale) and np.allclose(layer.translate, translate)
            and np.allclose(layer.affine.affine_matrix, affine) and np.allclose(layer.rotate, np.eye(nd))
            and np.allclose(layer.shear, 0.0))
