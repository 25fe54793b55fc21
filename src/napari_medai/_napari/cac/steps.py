"""The calcium widget's two steps, candidates and automatic assignment, and the layers they add.

The work is the core's (:func:`~napari_medai.core.tasks.cac.find_candidates`,
:func:`~napari_medai.core.tasks.cac.auto_assign`, the :class:`~napari_medai.core.tasks.cac.CandidateIndex`
for clicks), run in the widget's job runner; layers are added only when a step has finished, on the CT
layer's exact grid, with the artery names in their metadata and features (hover shows the name).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.errors import InvalidInputError
from ...core.models.errors import Cancelled
from ...core.tasks import cac
from ..layers import META_KEY, label_colormap, volume_to_layer_data
from . import files

if TYPE_CHECKING:
    from .scoring import CACWidget

CANDIDATES_LAYER = "CAC candidates"
ASSIGNMENT_LAYER = "artery assignment"


def grid_kwargs(layer: Any) -> dict[str, Any]:
    """The full data-to-world transform of ``layer``, to put a new layer on exactly its grid."""
    return {"scale": tuple(layer.scale), "translate": tuple(layer.translate), "rotate": np.asarray(layer.rotate),
            "shear": np.asarray(layer.shear), "affine": np.asarray(layer.affine.affine_matrix)}


def image_choices(viewer: Any) -> tuple[list[str], list[str]]:
    """Names of the viewer's Image layers, and those that look like CT (modality CT, or 'ct' in the name)."""
    from napari.layers import Image

    images = [ly for ly in viewer.layers if isinstance(ly, Image)]  # plugin proxies: isinstance, never type()
    ct_like = [ly.name for ly in images if ((ly.metadata or {}).get(META_KEY, {}).get("modality") or "").upper()
               == "CT" or "ct" in ly.name.lower().replace(".", " ").replace("_", " ").split()]
    return [ly.name for ly in images], ct_like


def describe_ct(ct: Any, check: cac.CTCheck, notes: list[str]) -> str:
    """What the CT check found, for the line under the CT chooser."""
    text = (f"{' × '.join(str(s) for s in ct.spatial_shape)} voxels, slice spacing {check.slice_spacing_mm:g} mm, "
            f"pixel {ct.spacing[1]:.3g} × {ct.spacing[2]:.3g} mm. HU: {check.hu_evidence}.")
    return text + ((" Note: " + " ".join(notes)) if notes else " Slices are 3 mm: no slice correction needed.")


def put_labels(viewer: Any, vol: Any, ct_layer: Any, *, opacity: float) -> Any:
    """Create or update the Labels layer ``vol.name`` on the CT layer's grid (names and colours from ``vol``)."""
    from napari.layers import Labels
    from napari.utils.colormaps import DirectLabelColormap

    data, kw, _ = volume_to_layer_data(vol, as_label=True)[0]
    kw["metadata"][META_KEY]["source"] = files.source_of(ct_layer)  # napari's writer never writes over the CT
    for k in ("affine", "translate", "scale"):
        kw.pop(k, None)
    kw.update(grid_kwargs(ct_layer), opacity=opacity)
    if vol.label_names:  # napari's status bar shows a label's features: its name
        kw["features"] = {"index": list(vol.label_names), "artery": list(vol.label_names.values())}
        colours = label_colormap({k: v for k, v in vol.label_names.items() if k})  # 0 stays transparent
        kw["colormap"] = DirectLabelColormap(color_dict=colours)
    layer = viewer.layers[vol.name] if vol.name in viewer.layers else None  # noqa: SIM401 - no .get
    if isinstance(layer, Labels) and layer.data.shape == data.shape:
        for attr, value in kw.items():
            if attr not in ("name", "metadata"):
                setattr(layer, attr, value)
        layer.metadata.update(kw["metadata"])
        layer.data = data
        return layer
    if layer is not None:
        viewer.layers.remove(layer)
    return viewer.add_labels(data, **kw)


class CandidateSteps:
    """Find candidates / Auto-assign of one :class:`~.scoring.CACWidget`."""

    def __init__(self, widget: CACWidget) -> None:
        self.widget = widget

    def start(self, *, assign: bool) -> bool:
        """Find the candidates (and with ``assign`` the arteries) of the CT in the widget's job runner."""
        w = self.widget
        ct = w.check_ct()
        if ct is None:
            return False
        layer = w.ct_layer()
        key = (layer.name, id(layer.data), float(w.min_area_spin.value()))
        reuse = (w.candidates, w.candidate_lesions, w.index) if assign and w.candidates_key == key else None
        min_area, model, stop = float(w.min_area_spin.value()), w.territory_model, w.jobs.cancelled

        def work() -> tuple:
            if reuse is not None and reuse[0] is not None:
                cand, lesions, index = reuse
            else:
                cand, lesions = cac.find_candidates(ct, min_area_mm2=min_area)
                index = cac.CandidateIndex(cand)
            if stop():
                raise Cancelled("stopped after the candidates")
            groups = cac.candidate_groups(cand)
            assignment = cac.auto_assign(ct, cand, model=model) if assign else None
            if stop():
                raise Cancelled("stopped after the assignment")
            return cand, lesions, index, groups, assignment

        return w.jobs.start(work, lambda v: self.show(layer, key, ct, v),
                            "assigning arteries…" if assign else "finding candidates…")

    def show(self, ct_layer: Any, key: tuple, ct: Any, value: tuple) -> Iterator[None]:
        """Add the layers of a finished step (the job's ``done``: nothing is added when it fails).

        A generator: napari takes a good part of 0.1 s to add each Labels layer, so the candidates and the
        assignment are added in two turns of the event loop (the viewer repaints and reacts in between)."""
        w = self.widget
        if ct_layer != w.ct_layer():  # not `is`: napari hands plugins a new proxy per access
            raise InvalidInputError("the CT changed while computing; press the button again")
        cand, lesions, index, groups, assignment = value
        w.candidates, w.candidate_lesions, w.index, w.candidates_key = cand, lesions, index, key
        n_groups = int(cand.meta.get("n_groups", 0))
        cl = put_labels(w.viewer, groups.with_data(np.asarray(groups.data), name=CANDIDATES_LAYER), ct_layer,
                        opacity=0.5)
        cl.metadata["cac"] = {"kind": "candidate groups", "n_candidates": len(lesions), "n_groups": n_groups}
        if assignment is None:
            w.jobs.set_status(
                f"{len(lesions)} candidate lesion(s) >= 130 HU and >= {w.min_area_spin.value():g} mm² in "
                f"{n_groups} 3-D group(s) (bone included). Press Auto-assign, or click candidates with an artery "
                "chosen.")
            return
        cl.visible = False
        yield
        vol = assignment.with_data(np.asarray(assignment.data, dtype=np.uint8), name=ASSIGNMENT_LAYER,
                                   label_names=dict(files.ASSIGNMENT_NAMES))
        al = put_labels(w.viewer, vol, ct_layer, opacity=0.8)
        al.metadata["cac"] = {k: assignment.meta[k] for k in ("method", "group_counts", "anatomy_notes")
                              if k in assignment.meta}
        counts = assignment.meta.get("group_counts", {})
        method = str(assignment.meta.get("method", ""))
        summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n and name != "unassigned")
        text = ("Method: heuristic (no model) — fixed anatomical rules; check every assignment and correct it by "
                "clicking or painting." if method == cac.METHOD_HEURISTIC else f"Method: {method}.")
        text += f" Groups: {summary or 'none assigned'}; {counts.get('unassigned', 0)} left unassigned (bone, outside)."
        w.method_label.setText(text)
        notes = assignment.meta.get("anatomy_notes") or []
        w.method_label.setToolTip("Landmarks found: " + "; ".join(map(str, notes)) if notes else "")
        w.score_layer(al, ct)

