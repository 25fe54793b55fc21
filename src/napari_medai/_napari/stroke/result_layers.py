"""The layers a stroke result becomes: the 0/1 lesions (a prediction in the ISLES convention), the lesion ids,
the probability (a model's) or score (the baseline's), each with the widget's napari-medai metadata, added one
per event-loop turn (:class:`TurnQueue`).

Every array comes from :class:`napari_medai.core.tasks.stroke.segment.StrokeResult`; nothing is computed here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QTimer

from ..layers import META_KEY, put_layer, volume_to_layer_data

#: Label convention of the lesion layer (ISLES: 1 = lesion).
CONVENTION = "isles"
#: Names of the layers the widget adds.
LESIONS = "stroke lesions"
LESION_IDS = "stroke lesion ids"
PROBABILITY = "stroke lesion probability"
SCORE = "stroke lesion score"


def lesions_volume(result: Any) -> Any:
    """The 0/1 lesion mask of ``result`` (its labels may be component ids) as a Volume named :data:`LESIONS`."""
    binary = (np.asarray(result.labels.data) > 0).astype(np.uint8)
    return result.labels.with_data(binary, name=LESIONS, is_label=True, label_names={1: "infarct"})


def ids_volume(result: Any) -> Any:
    """The lesion ids of ``result`` (asked with ``separate_lesions``), each named 'lesion N'."""
    return result.labels.with_data(np.asarray(result.labels.data), name=LESION_IDS, is_label=True,
                                   label_names={int(r.id): f"lesion {r.id}" for r in result.lesions})


def probability_volume(result: Any) -> Any:
    """A model's probability, or the baseline's score (how far below the threshold, not calibrated); None without."""
    if result.probability is None:
        return None
    name = PROBABILITY if result.method == "model" else SCORE
    return result.probability.with_data(np.asarray(result.probability.data, dtype=np.float32), name=name,
                                        is_label=False)


def add_result_layer(viewer: Any, vol: Any, *, role: str, model: str, convention: str | None = None,
                     **extra: Any) -> Any:
    """Add ``vol`` to ``viewer`` as a layer with the widget's metadata; the layer. A layer of its name on the
    same grid (an earlier run's) gets the new data in place (:func:`~napari_medai._napari.layers.put_layer`)."""
    data, kw, kind = volume_to_layer_data(vol)[0]
    kw["metadata"][META_KEY].update(role=role, model=model, **({"convention": convention} if convention else {}))
    kw.update(extra)
    return put_layer(viewer, data, kw, kind)


def add_lesions(viewer: Any, result: Any) -> Any:
    """Add the 0/1 lesions of ``result`` (a prediction in the ISLES convention) and remove the id and
    probability/score layers of an earlier result; the lesion layer."""
    layer = add_result_layer(viewer, lesions_volume(result), role="prediction", convention=CONVENTION,
                             model=result.method)
    remove_extra_layers(viewer)
    return layer


def add_ids(viewer: Any, ids: Any, model: str, lesions_layer: Any) -> Any:
    """Add the lesion-id layer ``ids`` over the 0/1 ``lesions_layer`` (hidden then); the id layer."""
    layer = add_result_layer(viewer, ids, role="lesion ids", model=model)
    if lesions_layer is not None and lesions_layer.name in viewer.layers:
        lesions_layer.visible = False
    return layer


def add_probability(viewer: Any, prob: Any, model: str) -> Any:
    """Add the probability (or score) layer, hidden, in 0..1 with the magma colormap; the layer."""
    return add_result_layer(viewer, prob, role="probability", model=model, colormap="magma", visible=False,
                            contrast_limits=(0.0, 1.0))


def remove_extra_layers(viewer: Any) -> None:
    """Remove the id and probability/score layers of an earlier result (the new one may not have them)."""
    for old in (LESION_IDS, PROBABILITY, SCORE):
        if old in viewer.layers:
            viewer.layers.remove(old)


def select_shown_lesions(viewer: Any) -> None:
    """Select the lesion layer shown (its controls, e.g. opacity and contour, in napari's layer panel)."""
    for name in (LESION_IDS, LESIONS):
        if name in viewer.layers and viewer.layers[name].visible:
            viewer.layers.selection.active = viewer.layers[name]
            return


class TurnQueue:
    """Calls made one per event-loop turn, in order (napari holds the GUI thread for each new layer).

    Parameters
    ----------
    owner : QObject
        The timers' context: nothing runs once it is deleted.
    """

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self._calls: list[Any] = []

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, call: Any) -> None:
        """Queue ``call()`` for a later event-loop turn."""
        self._calls.append(call)
        if len(self._calls) == 1:
            QTimer.singleShot(0, self.owner, self._next)

    def clear(self) -> None:
        """Drop the calls not made yet."""
        self._calls.clear()

    def _next(self) -> None:
        if not self._calls:
            return
        self._calls.pop(0)()
        if self._calls:
            QTimer.singleShot(0, self.owner, self._next)


__all__ = ["CONVENTION", "LESIONS", "LESION_IDS", "PROBABILITY", "SCORE", "TurnQueue", "add_ids", "add_lesions",
           "add_probability", "add_result_layer", "ids_volume",
           "lesions_volume", "probability_volume", "remove_extra_layers", "select_shown_lesions"]
