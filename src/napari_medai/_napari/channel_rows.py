"""One form row per input channel of a model, each offering the open image layers.

A channel is filled only by an image named like it, never by "the first layer"; a user's choice is kept
while its layer is open (also through a rename); one image in two channels is shown in red at once
(:mod:`napari_medai.core.model_inputs`). The rows follow the viewer's layers (added, removed, renamed).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QComboBox, QFormLayout, QVBoxLayout, QWidget

from ..core.model_inputs import ChannelCheck, assign_channels, channel_label, check_channels
from ._widgets import RED, watch_layer_names, wrapped


class ChannelRows(QWidget):
    """The channel rows of a segmentation widget (see module docstring); :meth:`set_channels` builds them."""

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        #: ``{channel: combo}`` in the model's channel order.
        self.combos: dict[str, QComboBox] = {}
        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        self.note = wrapped()
        self.note.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.form)
        layout.addWidget(self.note)
        watch_layer_names(self, viewer, self.refresh)

    def set_channels(self, channels: tuple[str, ...]) -> None:
        """One row per channel (rows of channels kept keep their choice)."""
        if tuple(self.combos) == tuple(channels):
            self.refresh()
            return
        keep = self.assignment()
        while self.form.rowCount():
            self.form.removeRow(0)
        self.combos = {}
        for ch in channels:
            combo = QComboBox()
            combo.setPlaceholderText("choose a layer")
            combo.setToolTip(f"The image for the model's {channel_label(ch)} channel (filled only by a layer "
                             "named like it)")
            combo.currentTextChanged.connect(lambda _t: self._show_check())
            self.combos[ch] = combo
            self.form.addRow(channel_label(ch), combo)
        self.refresh(keep=keep)

    def assignment(self) -> dict[str, str | None]:
        """``{channel: chosen image layer name or None}``."""
        return {ch: (c.currentText() or None) for ch, c in self.combos.items()}

    def check(self) -> ChannelCheck:
        return check_channels(self.assignment())

    def refresh(self, *_: Any, keep: dict[str, str | None] | None = None) -> None:
        """Offer the open images in every row, keeping each choice (also through a rename)."""
        from napari.layers import Image

        names = [ly.name for ly in self.viewer.layers if isinstance(ly, Image)]
        if keep is None:
            keep = self.assignment()
            gone = {n for n in keep.values() if n is not None and n not in names}
            offered = {c.itemText(i) for c in self.combos.values() for i in range(c.count())}
            new = [n for n in names if n not in offered]
            if len(gone) == 1 and len(new) == 1:  # a layer was renamed
                old = gone.pop()
                keep = {ch: (new[0] if n == old else n) for ch, n in keep.items()}
        chosen = assign_channels(list(self.combos), names, keep=keep)
        for ch, combo in self.combos.items():
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentIndex(names.index(chosen[ch]) if chosen[ch] is not None else -1)
            combo.blockSignals(False)
        self._show_check()

    def _show_check(self) -> None:
        check = self.check()
        self.note.setText(check.message())
        self.note.setVisible(bool(check.message()))
        self.note.setStyleSheet(RED if check.shared else "")


__all__ = ["ChannelRows"]
