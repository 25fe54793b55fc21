"""The recipe fields of the brain-tumour training widget: limits, split, device, and (ticked open) patch,
steps and network, filled from :data:`~napari_medai.core.tasks.brain_tumour.DEFAULT_RECIPE`.

Two form columns side by side keep the recipe short; every field is a labelled form row, so a user (and a
journey test) finds it by the text beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qtpy.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QVBoxLayout, QWidget

from ._widgets import device_combo, fit_spin_text, int_spin, spin, threads_spin


def pair_of_forms(rows: list[tuple[str, QWidget]]) -> QHBoxLayout:
    """Two form columns side by side (the first half of ``rows`` on the left)."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    half = (len(rows) + 1) // 2
    for part in (rows[:half], rows[half:]):
        form = QFormLayout()
        for text, w in part:
            form.addRow(text, w)
        row.addLayout(form, stretch=1)
    return row


class RecipeForm(QWidget):
    """Training settings; :meth:`arguments` gives them as keyword arguments of ``train_brain_tumour``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..core.tasks.brain_tumour import DEFAULT_RECIPE as R  # noqa: N811 - the recipe, read once

        self.epochs_spin = int_spin(1, 100000, int(R["max_epochs"]), "Epoch limit.")
        self.minutes_spin = spin(0, 100000, float(R["time_limit_s"]) / 60, decimals=0, step=5,
                                 tip="Time budget: no epoch starts that would end after it (0: no limit).")
        self.minutes_spin.setSpecialValueText("no limit")
        self.patience_spin = int_spin(1, 10000, int(R["patience"]), "Epochs without improvement before stopping.")
        self.val_spin = spin(0, 0.9, float(R["val_fraction"]), step=0.05,
                             tip="Fraction of the cases held out to pick the best epoch by Dice (0: none).")
        self.val_spin.setSpecialValueText("none")
        self.seed_spin = int_spin(0, 2**31 - 1, 0, "Seeds the split, the weights, the patches.")
        self.device_combo = device_combo()
        self.threads_spin = threads_spin()
        self.advanced_check = QCheckBox("advanced: patch, steps, network")
        self.patch_spin = int_spin(16, 512, int(R["patch_size"][0]), "Training patch edge (voxels).")
        self.steps_spin = int_spin(1, 100000, int(R["iterations_per_epoch"]), "Training steps per epoch.")
        self.batch_spin = int_spin(1, 256, int(R["batch_size"]), "Patches per step.")
        self.window_spin = int_spin(16, 1024, int(R["roi_size"][0]), "Sliding-window edge of validation.")
        self.spacing_spin = spin(0.25, 10, float(R["target_spacing"][0]), step=0.25, tip="Voxel size trained at.")
        self.filters_spin = int_spin(8, 256, int(R["init_filters"]), "SegResNet's first-level filters.")
        for s in (self.patch_spin, self.window_spin, self.filters_spin):
            s.setSingleStep(8)
        for s in (self.minutes_spin, self.val_spin, self.threads_spin):  # special texts, e.g. "no limit"
            fit_spin_text(s)

        self.advanced = QWidget()
        self.advanced.setLayout(pair_of_forms([
            ("patch edge", self.patch_spin), ("batch", self.batch_spin), ("voxel (mm)", self.spacing_spin),
            ("steps/epoch", self.steps_spin), ("window edge", self.window_spin), ("filters", self.filters_spin)]))
        self.advanced.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(pair_of_forms([
            ("max epochs", self.epochs_spin), ("patience", self.patience_spin), ("seed", self.seed_spin),
            ("CPU threads", self.threads_spin), ("time (min)", self.minutes_spin), ("validation", self.val_spin),
            ("device", self.device_combo)]))
        layout.addWidget(self.advanced_check)
        layout.addWidget(self.advanced)
        self.advanced_check.toggled.connect(self._show_advanced)

    def set_defaults(self, recipe: Mapping[str, Any]) -> None:
        """Show a task's recipe (its ``DEFAULT_RECIPE``, e.g. of brain tumours or of stroke): every field whose
        key ``recipe`` holds takes its value; the others keep theirs."""
        edge = {"patch_size": self.patch_spin, "roi_size": self.window_spin, "target_spacing": self.spacing_spin}
        for key, box in edge.items():
            if recipe.get(key) is not None:
                box.setValue(float(recipe[key][0]) if key == "target_spacing" else int(recipe[key][0]))
        plain = {"max_epochs": self.epochs_spin, "patience": self.patience_spin, "val_fraction": self.val_spin,
                 "iterations_per_epoch": self.steps_spin, "batch_size": self.batch_spin,
                 "init_filters": self.filters_spin}
        for key, box in plain.items():
            if recipe.get(key) is not None:
                box.setValue(recipe[key])
        if "time_limit_s" in recipe:
            self.minutes_spin.setValue(float(recipe["time_limit_s"] or 0) / 60)

    def _show_advanced(self, show: bool) -> None:
        self.advanced.setVisible(show)
        self.updateGeometry()  # the dock widens when the advanced columns need it

    def arguments(self) -> dict[str, Any]:
        """The settings as keyword arguments of :func:`~napari_medai.core.tasks.brain_tumour.train_brain_tumour`."""
        minutes = self.minutes_spin.value()
        args: dict[str, Any] = {
            "seed": self.seed_spin.value(), "max_epochs": self.epochs_spin.value(),
            "device": self.device_combo.currentText(), "patience": self.patience_spin.value(),
            "val_fraction": round(self.val_spin.value(), 4), "time_limit_s": minutes * 60.0 if minutes > 0 else None,
            "patch_size": (self.patch_spin.value(),) * 3, "iterations_per_epoch": self.steps_spin.value(),
            "batch_size": self.batch_spin.value(), "roi_size": (self.window_spin.value(),) * 3,
            "target_spacing": (self.spacing_spin.value(),) * 3, "init_filters": self.filters_spin.value(),
        }
        if self.threads_spin.value() > 0:
            args["num_threads"] = self.threads_spin.value()
        return args
