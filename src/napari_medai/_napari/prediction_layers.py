"""A segmentation model's result in the viewer: the label layer marked as a prediction, its optional
probability / uncertainty layers, and the hand-over to the agreement panel when ground truth is open.

Any task's segmentation widget uses these (brain tumour today); they only wire layers, the numbers come
from :func:`napari_medai.core.inference.segmentation.predict`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.model_inputs import pick_ground_truth
from .layers import META_KEY, put_layer, volume_to_layer_data

#: The Plugins menu's name of the agreement panel (opened through it, so the menu and the widgets share one).
AGREEMENT_WIDGET = "Agreement with ground truth"
PLUGIN = "napari-medai"


def add_prediction(viewer: Any, pred: Any, *, name: str, convention: str) -> Any:
    """Add ``pred`` (a :class:`~napari_medai.core.inference.segmentation.Prediction`) as layers; returns the label layer.

    The label layer replaces an earlier one of the same name (in place on the same grid) and carries
    ``role='prediction'``, the label ``convention`` and the model's name in its napari-medai metadata (the
    agreement panel reads them). Probability and uncertainty layers, when computed, are added hidden. All in
    one call; :func:`prediction_layers` adds them one per step.
    """
    parts = prediction_layers(viewer, pred, name=name, convention=convention)
    out = next(parts)
    for _ in parts:
        pass
    return out


def prediction_layers(viewer: Any, pred: Any, *, name: str, convention: str) -> Iterator[Any]:
    """The layers of :func:`add_prediction`, one added per ``next()``: the label layer first, then each
    probability / uncertainty layer (napari holds the GUI thread about 150 ms per new layer on a busy 2-core
    machine, so a caller that yields between them, e.g. a job's generator ``done``, keeps each freeze short)."""
    labels = pred.labels.with_data(pred.labels.data, name=name)
    for data, kw, kind in volume_to_layer_data(labels):
        kw["metadata"][META_KEY].update(role="prediction", convention=convention, model=pred.model_name)
        yield put_layer(viewer, data, kw, kind)  # an earlier prediction on the same grid gets the new labels in place
    for extra in (pred.probabilities, pred.uncertainty):
        for data, kw, kind in volume_to_layer_data(extra) if extra is not None else ():
            for n in kw["name"] if isinstance(kw["name"], list) else [kw["name"]]:
                if n in viewer.layers:
                    viewer.layers.remove(n)
            kw.pop("contrast_limits", None)
            yield getattr(viewer, f"add_{kind}")(data, **{**kw, "colormap": "magma", "visible": False})


def ground_truth_for(viewer: Any, prediction: Any) -> Any:
    """The open Labels layer named like ground truth on ``prediction``'s grid (never a prediction), or None."""
    from napari.layers import Labels

    cands = {ly.name: ly for ly in viewer.layers
             if isinstance(ly, Labels) and ly.name != prediction.name and ly.data.shape == prediction.data.shape
             and (ly.metadata or {}).get(META_KEY, {}).get("role") != "prediction"}
    name = pick_ground_truth(list(cands))
    return cands[name] if name is not None else None


def compare_with_ground_truth(viewer: Any, prediction: Any, convention: str, *, beside: Any = None) -> Any:
    """Open the agreement panel through the Plugins menu (reusing an open one) on ``prediction`` and the
    ground truth, if one is open; returns the panel or None.

    ``beside`` (the calling dock widget) shares its dock's height with a new panel, half each, so the
    panel's table is not squeezed under a tall widget (the widget scrolls).
    """
    gt = ground_truth_for(viewer, prediction)
    if gt is None:
        return None
    dock, panel = viewer.window.add_plugin_dock_widget(PLUGIN, AGREEMENT_WIDGET)
    share_height(beside, dock)
    panel.set_pair(pred=prediction.name, gt=gt.name, convention=convention)
    return panel


def share_height(widget: Any, dock: Any) -> None:
    """Give ``dock`` (e.g. the agreement panel's) half of the height it shares with ``widget``'s dock, once the
    main window has placed it (the task widgets scroll; the panel's table would otherwise be squeezed)."""
    from qtpy.QtCore import Qt, QTimer
    from qtpy.QtWidgets import QDockWidget, QMainWindow

    mine = widget.parentWidget() if widget is not None else None
    main = dock.parentWidget()
    if not (isinstance(mine, QDockWidget) and isinstance(main, QMainWindow)) or mine is dock:
        return

    def share() -> None:  # once the main window has placed the new dock
        total = mine.height() + dock.height()
        if dock.height() < 0.4 * total and main.dockWidgetArea(mine) == main.dockWidgetArea(dock):
            main.resizeDocks([mine, dock], [total // 2, total - total // 2], Qt.Vertical)

    QTimer.singleShot(0, dock, share)


__all__ = ["AGREEMENT_WIDGET", "add_prediction", "compare_with_ground_truth", "ground_truth_for", "prediction_layers",
           "share_height"]
