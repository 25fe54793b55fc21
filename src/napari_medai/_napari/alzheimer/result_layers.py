"""The layers the Alzheimer widget adds: the aligned T1 over the MNI152 template (a second colour, additive,
with the template brain's outline), the -log10 p map and the numbered landmarks, and a prediction's landmarks
coloured by their contribution with the saliency map.

Points are placed in world millimetres (the core's array-order LPS world, which every image layer of the
viewer shares): a discovered landmark at its grid voxel's world point, a model's landmarks at the world points
its contract stores (``AlzheimerPrediction.landmarks_mm``). Every array comes from a core result; nothing is
computed here but colours.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import META_KEY, put_layer, volume_to_layer_data
from .words import CONTRIBUTIONS, LANDMARKS, P_MAP, SALIENCY, TEMPLATE, TEMPLATE_BRAIN, neg_log10

#: Colour of the template (the aligned T1 stays grey): the two add up to white where they agree.
TEMPLATE_COLOUR = "magenta"
#: The diverging colormap of the contributions and the saliency (blue: towards NC, red: towards AD).
DIVERGING = "coolwarm"
#: Landmark marker diameter, mm.
POINT_MM = 8.0
#: -log10 p below which the p map adds nothing (p > 0.05 stays black under additive blending).
P_FLOOR = float(-np.log10(0.05))


def aligned_name(t1_name: str) -> str:
    """The aligned T1's layer name: ``"<t1> (MNI152)"``."""
    return f"{t1_name} (MNI152)"


def add_volume(viewer: Any, vol: Any, *, role: str, as_label: bool = False, **extra: Any) -> Any:
    """Add ``vol`` as a layer with the widget's metadata; the layer. A layer of its name on the same grid (an
    earlier run's) gets the new data in place (:func:`~napari_medai._napari.layers.put_layer`)."""
    data, kw, kind = volume_to_layer_data(vol, as_label=as_label)[0]
    kw["metadata"][META_KEY]["role"] = role
    kw.update(extra)
    return put_layer(viewer, data, kw, kind)


def _symmetric(values: np.ndarray) -> tuple[float, float]:
    m = float(np.max(np.abs(values))) if np.size(values) else 0.0
    m = m if m > 0 else 1e-6
    return (-m, m)


# ------------------------------------------------------------------ alignment
def add_aligned(viewer: Any, aligned: Any, t1_name: str) -> Any:
    """The T1 on the template grid, grey, on top; the original T1 layer is hidden (it lies elsewhere)."""
    layer = add_volume(viewer, aligned.with_data(aligned.data, name=aligned_name(t1_name)), role="aligned T1",
                       blending="additive")
    if t1_name in viewer.layers and t1_name != layer.name:
        viewer.layers[t1_name].visible = False
    return layer


def add_template(viewer: Any, template: Any) -> Any:
    """The template image in :data:`TEMPLATE_COLOUR`, additive: grey + magenta read white where they agree."""
    vol = template.image.with_data(np.asarray(template.image.data, dtype=np.float32), name=TEMPLATE)
    layer = add_volume(viewer, vol, role="template", colormap=TEMPLATE_COLOUR, blending="additive", opacity=0.7)
    index = list(viewer.layers).index(layer)
    if index > 0:
        viewer.layers.move(index, 0)  # under the aligned T1
    return layer


def add_template_brain(viewer: Any, template: Any) -> Any:
    """The template's brain mask as a thin outline (the region the correlation is measured in)."""
    mask = template.image.with_data(np.asarray(template.brain_mask, dtype=np.uint8), name=TEMPLATE_BRAIN,
                                    is_label=True, label_names={1: "template brain"})
    layer = add_volume(viewer, mask, role="template brain", as_label=True, opacity=0.8)
    layer.contour = 1
    return layer


# ------------------------------------------------------------------ landmarks
def add_p_map(viewer: Any, result: Any) -> Any:
    """The AD vs NC comparison as -log10 p (0 outside the analysis mask), inferno, additive; p > 0.05 black."""
    p = result.p_map()
    data = neg_log10(p.data)
    top = float(data.max()) if data.size and float(data.max()) > 0 else 1.0
    low = P_FLOOR if top > 2 * P_FLOOR else 0.0
    return add_volume(viewer, p.with_data(data, name=P_MAP), role="p map", colormap="inferno", blending="additive",
                      contrast_limits=(low, top))


def go_to_world(viewer: Any, layer: Any, world: Any) -> None:
    """Move the sliders and the camera to the world point ``world`` (mm) through ``layer``'s grid."""
    from .._widgets import centre_on

    if layer is None or layer.name not in viewer.layers:
        return
    nd = layer.ndim
    point = np.zeros(nd)
    point[-3:] = np.asarray(world, dtype=float)[-3:]
    centre_on(viewer, layer, layer.world_to_data(point))


def _points(viewer: Any, name: str, world: np.ndarray, features: dict[str, Any], **kw: Any) -> Any:
    if name in viewer.layers:
        viewer.layers.remove(name)
    ndim = max(3, viewer.dims.ndim) if len(viewer.layers) else 3
    data = np.zeros((len(world), ndim))
    data[:, -3:] = world
    return viewer.add_points(data, name=name, features=features, size=POINT_MM,
                             text={"string": "{rank}", "color": "white", "size": 10, "anchor": "upper_left"},
                             metadata={META_KEY: {"role": name}}, **kw)


def add_landmarks(viewer: Any, result: Any) -> Any:
    """The landmarks as Points numbered by rank (1 = most significant), with p, t and the MNI position."""
    lms = result.landmarks
    grid = result.cohort.grid
    world = grid.index_to_world(np.array([lm.index for lm in lms], dtype=float)) if lms else np.empty((0, 3))
    features = {"rank": [lm.rank for lm in lms], "p_value": [lm.p_value for lm in lms], "t": [lm.t for lm in lms],
                "mni_mm": [", ".join(f"{v:.0f}" for v in lm.mni_mm) for lm in lms]}
    return _points(viewer, LANDMARKS, world, features, face_color="#00d0ff", border_color="white")


# ------------------------------------------------------------------ prediction
def add_contributions(viewer: Any, pred: Any) -> Any | None:
    """The model's landmarks coloured by their contribution (blue -> white -> red); None without landmarks."""
    world = np.asarray(pred.landmarks_mm, dtype=float).reshape(-1, 3)
    if world.shape[0] == 0:
        if CONTRIBUTIONS in viewer.layers:
            viewer.layers.remove(CONTRIBUTIONS)
        return None
    contrib = np.asarray(pred.contributions, dtype=float).reshape(-1)
    mni = pred.landmarks_mni
    features = {"rank": list(range(1, world.shape[0] + 1)), "contribution": contrib.tolist(),
                "mni_mm": [", ".join(f"{v:.0f}" for v in m) for m in mni]}
    return _points(viewer, CONTRIBUTIONS, world, features, face_color="contribution",
                   face_colormap=DIVERGING, face_contrast_limits=_symmetric(contrib), border_color="black")


def add_saliency(viewer: Any, pred: Any) -> Any:
    """The saliency map on the MNI grid, diverging and symmetric about 0, half transparent."""
    sal = pred.saliency
    data = np.asarray(sal.data, dtype=np.float32)
    return add_volume(viewer, sal.with_data(data, name=SALIENCY), role="saliency", colormap=DIVERGING,
                      contrast_limits=_symmetric(data), opacity=0.45)


__all__ = ["DIVERGING", "POINT_MM", "P_FLOOR", "TEMPLATE_COLOUR", "go_to_world", "add_aligned", "add_contributions", "add_landmarks",
           "add_p_map", "add_saliency", "add_template", "add_template_brain", "add_volume", "aligned_name"]
