"""Low-dose CT (LDCT) dock widget: simulate a low dose, denoise, train on pairs, measure image quality.

Everything computed comes from the core: :func:`napari_medai.core.simulation.simulate_low_dose`,
:func:`napari_medai.core.tasks.ldct.denoise` (every method of ``METHODS``),
:func:`napari_medai.core.tasks.ldct.train_ldct` and :mod:`napari_medai.core.metrics.image_quality`.
This module picks layers, runs the core off the GUI thread (one job at a time, progress bar, Cancel),
draws the live loss curves and puts the results back as layers on the input's grid.

Tabs:

* **Simulate**: a reduced-dose scan of a full-dose CT layer (dose fraction of I0 photons per ray,
  electronic noise, seed), layer ``<name>_dose25%``; optionally also the noise-free reconstruction of
  the same geometry (``<name>_noise_free``), the fair reference of the simulated scan.
* **Denoise**: layer ``<input>_<method>``; ``noise2self`` draws its training loss live and **Stop
  training** denoises with what was trained so far.
* **Train**: RED-CNN on a (full dose, low dose) pair of layers, or a low dose simulated from the full
  dose, into a model folder, with a live curve; the model is then method ``trained``.
* **Measure**: PSNR / SSIM / RMSE in an HU window against a reference layer, and the noise SD in a
  region drawn in a Shapes layer, one row per chosen image layer; a difference layer (image - reference).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QObject, Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import InvalidInputError, MedaiError
from ..core.metrics.image_quality import DEFAULT_WINDOW_HU
from ..core.tasks.ldct import CLASSICAL_METHODS, METHODS, Noise2SelfOptions
from ._plot import LivePlot
from ._qt_helpers import process_events_until
from .cac_widget import _VerticalScrollArea
from .layers import layer_to_volume, volume_to_layer_data

if TYPE_CHECKING:
    import napari

NONE = "none"
SIMULATE = "simulate it from the full dose"
#: The one parameter of each classical filter the widget lets the user set (name, unit, max, step).
MAIN_PARAMETER: dict[str, tuple[str, str, float, float]] = {
    "gaussian": ("sigma_px", "px", 50.0, 0.1),
    "tv": ("weight", "HU", 10000.0, 1.0),
    "nlm": ("h", "HU", 10000.0, 1.0),
    "bilateral": ("sigma_color", "HU", 10000.0, 1.0),
}
METRIC_COLUMNS = ("image", "PSNR dB", "SSIM", "RMSE HU", "noise SD HU")
_RED = "color: #ff7070;"


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, MedaiError) else f"{type(exc).__name__}: {exc}"


def _num(v: float | None, digits: int) -> str:
    if v is None:
        return "–"
    return "inf" if math.isinf(v) else f"{v:.{digits}f}"


def _spin(low: float, high: float, value: float, *, decimals: int = 2, step: float = 1.0, suffix: str = "",
          tip: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(low, high)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    if suffix:
        s.setSuffix(suffix)
    s.setToolTip(tip)
    return s


def _int_spin(low: int, high: int, value: int, tip: str = "") -> QSpinBox:
    s = QSpinBox()
    s.setRange(low, high)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _wrapped(text: str = "") -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return lab


def slice_seed(seed: int, k: int, n_slices: int) -> int:
    """Seed of slice ``k``: ``seed`` itself for a single slice, else one drawn from ``(seed, k)``."""
    if n_slices == 1:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0])


# ---------------------------------------------------------------------------------------------- ROI
def _to_image_index(point: np.ndarray, shapes: Any, image: Any, viewer_point: tuple[float, ...]) -> np.ndarray:
    """Continuous index in ``image`` of one Shapes vertex (world coordinates, right-aligned)."""
    world = np.asarray(shapes.data_to_world(np.asarray(point, dtype=float)), dtype=float)
    nd = image.ndim
    if world.size < nd:  # a 2-D Shapes layer over a 3-D image: the slice shown now
        world = np.concatenate([np.asarray(viewer_point[-nd:-world.size], dtype=float), world])
    return np.asarray(image.world_to_data(world[-nd:]), dtype=float)


def _ring(corners: np.ndarray, n: int = 180) -> np.ndarray:
    """Polygon of the ellipse inscribed in a (possibly rotated) box given by its 4 corners in order."""
    centre = corners.mean(axis=0)
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)[:, None]
    return centre + np.cos(t) * (corners[1] - corners[0]) / 2.0 + np.sin(t) * (corners[2] - corners[1]) / 2.0


def shapes_to_mask(shapes: Any, image: Any, viewer_point: tuple[float, ...] = ()) -> tuple[np.ndarray, list[str]]:
    """Rasterise the closed shapes of a Shapes layer onto an Image layer's pixel grid.

    Shapes are mapped through world coordinates, so the two layers may have different scales and
    translations. A pixel belongs to the region when its centre lies inside a rectangle, polygon or
    ellipse. On a 3-D image each shape marks the slice it lies in; the shapes of a 2-D Shapes layer
    mark the slice the viewer shows (``viewer_point``, the viewer's world position). Lines and paths
    enclose nothing and are skipped.

    Returns
    -------
    mask, notes
        Boolean mask of the image's shape, and what was skipped.
    """
    from skimage.draw import polygon

    shape = tuple(np.asarray(image.data).shape)
    mask = np.zeros(shape, dtype=bool)
    notes: list[str] = []
    for i, (verts, kind) in enumerate(zip(shapes.data, shapes.shape_type)):
        if kind not in ("rectangle", "polygon", "ellipse"):
            notes.append(f"shape {i + 1} is a {kind} (no area); skipped")
            continue
        idx = np.stack([_to_image_index(v, shapes, image, viewer_point) for v in np.asarray(verts)])
        plane = idx[:, -2:]
        if kind == "ellipse":
            plane = _ring(plane)
        rr, cc = polygon(plane[:, 0], plane[:, 1], shape=shape[-2:])
        if len(shape) == 2:
            mask[rr, cc] = True
            continue
        z = int(round(float(idx[:, 0].mean())))
        if not 0 <= z < shape[0]:
            notes.append(f"shape {i + 1} lies outside the image's slices; skipped")
            continue
        mask[z, rr, cc] = True
    return mask, notes


# -------------------------------------------------------------------------------------------- widget
class _Bridge(QObject):
    """Carries progress and training metrics from the worker thread to the GUI thread."""

    progressed = Signal(float, str)
    metrics = Signal(object)


class LdctWidget(QWidget):
    """Low-dose CT: simulate, denoise, train, measure (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        #: Further :class:`Noise2SelfOptions` for scripts and tests (e.g. ``width``, ``patch``, ``batch_size``).
        self.noise2self_options: dict[str, Any] = {}
        self.last_result: Any = None  # DenoiseResult / LdctTrainingResult / list of metric rows
        self.rows: list[dict[str, Any]] = []
        self._worker: Any = None
        self._flags = _Flags()
        self._n2s_ran = False
        self._curve: dict[str, Any] = {}
        self._classical_values: dict[str, float | None] = dict.fromkeys(CLASSICAL_METHODS)
        self._bridge = _Bridge()
        self._bridge.progressed.connect(self._on_progress)
        self._bridge.metrics.connect(self._on_metrics)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_simulate(), "Simulate")
        self.tabs.addTab(self._build_denoise(), "Denoise")
        self.tabs.addTab(self._build_train(), "Train")
        self.tabs.addTab(self._build_measure(), "Measure")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running job; a cancelled job adds nothing.")
        self.status = _wrapped("Open a CT in HU (e.g. File > Open Sample > napari-medai > Low-dose / full-dose CT "
                               "pair), then pick a tab.")
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, stretch=1)
        bottom.addWidget(self.cancel_button)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.tabs)
        layout.addLayout(bottom)
        layout.addWidget(self.status)
        layout.addStretch(1)
        scroll = _VerticalScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.cancel_button.clicked.connect(self.cancel)
        flags = self._flags
        self.destroyed.connect(lambda *_: setattr(flags, "cancel", True))  # a closed dock stops its job
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.moved):
            ev.connect(self._layers_changed)
        for layer in viewer.layers:
            layer.events.name.connect(self._layers_changed)
        self._layers_changed()
        self._method_changed()
        self._low_changed()

    # ================================================================== building the tabs
    def _build_simulate(self) -> QWidget:
        self.sim_combo = QComboBox()
        self.sim_combo.setToolTip("The full-dose CT in HU (2-D slice or 3-D stack, simulated slice by slice).")
        self.dose_spin = _spin(0.1, 100.0, 25.0, decimals=1, step=5.0, suffix=" %",
                               tip="Dose of the simulated scan relative to the full dose.")
        self.i0_spin = _spin(100.0, 1e9, 1e5, decimals=0, step=1e4,
                             tip="Photons per detector ray at full dose (1e5 is clinical; lower = noisier). The "
                                 "simulated scan gets I0 x dose.")
        self.enoise_spin = _spin(0.0, 1000.0, 0.0, decimals=1, step=1.0,
                                 tip="SD of Gaussian electronic noise added to the photon counts (0: none).")
        self.seed_spin = _int_spin(0, 2**31 - 1, 0, "Same seed, same image. A single slice uses this seed; "
                                   "slice k of a stack uses a seed drawn from (seed, k).")
        self.pixel_spin = _spin(0.01, 100.0, 1.0, decimals=4, step=0.1, suffix=" mm",
                                tip="In-plane pixel size; it sets the path lengths, so the noise level. Taken "
                                    "from the layer's scale when you pick a layer.")
        self.photons_label = _wrapped()
        self.ref_check = QCheckBox("also add the noise-free reconstruction (the fair reference)")
        self.ref_check.setToolTip("Filtered back-projection of noise-free projections of the same geometry: "
                                  "its difference to the simulated scan is noise only.")
        self.simulate_button = QPushButton("Simulate low dose")
        form = QFormLayout()
        form.addRow("full dose", self.sim_combo)
        form.addRow("dose", self.dose_spin)
        form.addRow("I0 (full dose)", self.i0_spin)
        form.addRow("electronic noise", self.enoise_spin)
        form.addRow("seed", self.seed_spin)
        form.addRow("pixel size", self.pixel_spin)
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addLayout(form)
        lay.addWidget(self.photons_label)
        lay.addWidget(self.ref_check)
        lay.addWidget(self.simulate_button)
        lay.addStretch(1)
        self.sim_combo.currentTextChanged.connect(self._sim_layer_changed)
        for s in (self.dose_spin, self.i0_spin):
            s.valueChanged.connect(self._show_photons)
        self.simulate_button.clicked.connect(lambda: self.simulate())
        self._show_photons()
        return page

    def _build_denoise(self) -> QWidget:
        self.input_combo = QComboBox()
        self.method_combo = QComboBox()
        self.method_combo.addItems(list(METHODS))
        self.method_pages = QStackedWidget()
        # classical filters: their main parameter, auto (from the image's noise) or set by hand
        self.param_auto = QCheckBox("auto")
        self.param_auto.setChecked(True)
        self.param_spin = _spin(0.0, 10000.0, 1.0, decimals=2)
        self.param_spin.setEnabled(False)
        self.param_label = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.param_label)
        row.addWidget(self.param_spin, stretch=1)
        row.addWidget(self.param_auto)
        classical = QWidget()
        cl = QVBoxLayout(classical)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(row)
        self.param_note = _wrapped()
        cl.addWidget(self.param_note)
        # networks: weights file (redcnn) / model folder (trained)
        self.weights_edit = QLineEdit()
        self.weights_edit.setPlaceholderText("RED-CNN state_dict (.pt), e.g. redcnn_shared_L1_25.pt")
        self.weights_browse = QPushButton("File…")
        wrow = QHBoxLayout()
        wrow.addWidget(self.weights_edit, stretch=1)
        wrow.addWidget(self.weights_browse)
        weights_page = QWidget()
        wl = QVBoxLayout(weights_page)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.addLayout(wrow)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("model folder written by the Train tab / 'napari-medai train ldct'")
        self.folder_browse = QPushButton("Folder…")
        frow = QHBoxLayout()
        frow.addWidget(self.folder_edit, stretch=1)
        frow.addWidget(self.folder_browse)
        folder_page = QWidget()
        fl = QVBoxLayout(folder_page)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addLayout(frow)
        # noise2self: a network trained on the input alone
        d = Noise2SelfOptions()
        self.n2s_iter_spin = _int_spin(1, 1_000_000, d.iterations,
                                       "Training steps (the time hardly depends on the image size).")
        self.n2s_seed_spin = _int_spin(0, 2**31 - 1, d.seed, "Seeds weights, patches and masks.")
        n2s_page = QWidget()
        nf = QFormLayout(n2s_page)
        nf.setContentsMargins(0, 0, 0, 0)
        nf.addRow("iterations", self.n2s_iter_spin)
        nf.addRow("seed", self.n2s_seed_spin)
        nf.addRow(_wrapped("Self-supervised: a small U-Net learns from this image alone (no clean image). "
                           "Stop training ends it early and denoises with what it learned."))
        self._page_of: dict[str, QWidget] = {}
        for m in METHODS:
            if m in MAIN_PARAMETER:
                page = classical
            elif m == "redcnn":
                page = weights_page
            elif m == "trained":
                page = folder_page
            elif m == "noise2self":
                page = n2s_page
            else:  # a method this widget does not know: no options
                page = QLabel("no options")
            if self.method_pages.indexOf(page) < 0:
                self.method_pages.addWidget(page)
            self._page_of[m] = page
        self.model_info = _wrapped()
        self.blend_spin = _spin(0.0, 1.0, 0.0, decimals=2, step=0.05,
                                tip="Keep this fraction of the removed noise (0: none). The dose ratio (e.g. 0.25) "
                                    "estimates the full-dose image rather than the noise-free one.")
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.denoise_button = QPushButton("Denoise")
        self.stop_n2s_button = QPushButton("Stop training")
        self.stop_n2s_button.setToolTip("End noise2self training now and denoise with the network trained so far.")
        self.stop_n2s_button.setEnabled(False)
        self.n2s_plot = LivePlot(xlabel="step", ylabel="masked-pixel RMSE (HU)")
        self.notes = _wrapped()
        form = QFormLayout()
        form.addRow("input", self.input_combo)
        form.addRow("method", self.method_combo)
        form2 = QFormLayout()
        form2.addRow("blend", self.blend_spin)
        form2.addRow("device", self.device_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.denoise_button)
        buttons.addWidget(self.stop_n2s_button)
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addLayout(form)
        lay.addWidget(self.method_pages)
        lay.addWidget(self.model_info)
        lay.addLayout(form2)
        lay.addLayout(buttons)
        lay.addWidget(self.n2s_plot)
        lay.addWidget(self.notes)
        lay.addStretch(1)
        self.method_combo.currentTextChanged.connect(lambda _t: self._method_changed())
        self.param_auto.toggled.connect(self._auto_toggled)
        self.param_spin.valueChanged.connect(self._param_edited)
        self.weights_browse.clicked.connect(self._browse_weights)
        self.folder_browse.clicked.connect(self._browse_folder)
        self.weights_edit.editingFinished.connect(self.check_model)
        self.folder_edit.editingFinished.connect(self.check_model)
        self.denoise_button.clicked.connect(lambda: self.denoise())
        self.stop_n2s_button.clicked.connect(self.stop_training)
        return page

    def _build_train(self) -> QWidget:
        self.train_full_combo = QComboBox()
        self.train_low_combo = QComboBox()
        self.train_dose_spin = _spin(0.1, 100.0, 25.0, decimals=1, step=5.0, suffix=" %",
                                     tip="Dose of the simulated low-dose training input.")
        self.train_i0_spin = _spin(100.0, 1e9, 1e5, decimals=0, step=1e4, tip="Full-dose photons per ray.")
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("new or empty folder for the model")
        self.out_browse = QPushButton("Folder…")
        self.epochs_spin = _int_spin(1, 10000, 30, "Epoch limit (training also stops after 'patience' epochs "
                                     "without improvement).")
        self.steps_spin = _int_spin(1, 100000, 50, "Training steps per epoch.")
        self.patch_spin = _int_spin(24, 1024, 64, "Training crop side in pixels (slices must be at least this big).")
        self.filters_spin = _int_spin(1, 512, 32, "RED-CNN channels (96 in the paper; 32 trains in minutes on a CPU).")
        self.batch_spin = _int_spin(1, 4096, 8, "Crops per step.")
        self.val_spin = _spin(0.0, 0.9, 0.2, decimals=2, step=0.05,
                              tip="Fraction of the slices held out to pick the best epoch by PSNR (a stack is split "
                                  "by slices; a single slice cannot be split and the training loss is used).")
        self.train_seed_spin = _int_spin(0, 2**31 - 1, 0, "Seeds the split, the simulation, the weights, the crops.")
        self.train_device_combo = QComboBox()
        self.train_device_combo.addItems(["auto", "cpu", "cuda"])
        self.train_button = QPushButton("Train RED-CNN")
        self.stop_train_button = QPushButton("Stop (keep best epoch)")
        self.stop_train_button.setEnabled(False)
        self.stop_train_button.setToolTip("Stop after this step; the best finished epoch stays in the model folder.")
        self.train_plot = LivePlot(xlabel="step", ylabel="train RMSE (HU)", y2label="val. PSNR (dB)")
        self.train_plot.setVisible(False)  # shown once a run starts (empty axes say nothing)
        if self.train_plot.ax2 is not None:  # the twin axis would restart the colour cycle: same blue twice
            self.train_plot.ax2.set_prop_cycle(color=["tab:orange"])
        self.train_info = _wrapped()
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, stretch=1)
        out_row.addWidget(self.out_browse)
        form = QFormLayout()
        form.addRow("full dose", self.train_full_combo)
        form.addRow("low dose", self.train_low_combo)
        form.addRow("simulated dose", self.train_dose_spin)
        form.addRow("I0 (full dose)", self.train_i0_spin)
        form.addRow("model folder", out_row)
        form.addRow("epochs", self.epochs_spin)
        form.addRow("steps / epoch", self.steps_spin)
        form.addRow("patch", self.patch_spin)
        form.addRow("filters", self.filters_spin)
        form.addRow("batch", self.batch_spin)
        form.addRow("validation", self.val_spin)
        form.addRow("seed", self.train_seed_spin)
        form.addRow("device", self.train_device_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_train_button)
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.train_plot)
        lay.addWidget(self.train_info)
        lay.addStretch(1)
        self.train_low_combo.currentTextChanged.connect(lambda _t: self._low_changed())
        self.out_browse.clicked.connect(self._browse_out)
        self.train_button.clicked.connect(lambda: self.train())
        self.stop_train_button.clicked.connect(self.stop_training)
        return page

    def _build_measure(self) -> QWidget:
        self.ref_combo = QComboBox()
        self.ref_combo.setToolTip("Full-dose image on the same grid; 'none' fills the noise SD column only.")
        lo, hi = DEFAULT_WINDOW_HU
        self.win_lo = _spin(-3000.0, 5000.0, lo, decimals=0, step=10.0, suffix=" HU")
        self.win_hi = _spin(-3000.0, 5000.0, hi, decimals=0, step=10.0, suffix=" HU")
        win = QHBoxLayout()
        win.addWidget(self.win_lo)
        win.addWidget(QLabel("to"))
        win.addWidget(self.win_hi)
        self.roi_combo = QComboBox()
        self.roi_combo.setToolTip("A Shapes layer with rectangles, ellipses or polygons in a uniform tissue.")
        self.layer_list = QListWidget()
        self.layer_list.setToolTip("Ticked image layers get a row.")
        self.layer_list.setMaximumHeight(110)
        self.measure_button = QPushButton("Measure")
        self.diff_button = QPushButton("Difference layer")
        self.diff_button.setToolTip("Add (selected row's image - reference) as a layer; the last row when none "
                                    "is selected.")
        self.table = QTableWidget(0, len(METRIC_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(METRIC_COLUMNS))
        tips = ("", "10 log10(window width² / MSE), in the window", "SSIM (11 x 11 Gaussian, sigma 1.5) in the window",
                "RMSE in the window", "SD of the image inside the ROI (no window)")
        for j, tip in enumerate(tips):
            self.table.horizontalHeaderItem(j).setToolTip(tip)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        head.setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setMinimumHeight(150)
        self.measure_info = _wrapped("3-D stacks: PSNR/SSIM/RMSE are means over slices. The ROI: each shape counts "
                                     "on the slice it was drawn on (a 2-D Shapes layer: the slice shown now).")
        form = QFormLayout()
        form.addRow("reference", self.ref_combo)
        form.addRow("window", win)
        form.addRow("noise ROI", self.roi_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.measure_button)
        buttons.addWidget(self.diff_button)
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.addLayout(form)
        lay.addWidget(QLabel("images"))
        lay.addWidget(self.layer_list)
        lay.addLayout(buttons)
        lay.addWidget(self.table)
        lay.addWidget(self.measure_info)
        lay.addStretch(1)
        self.measure_button.clicked.connect(lambda: self.measure())
        self.diff_button.clicked.connect(lambda: self.add_difference())
        return page

    # ================================================================== layer choices
    def _images(self) -> list[Any]:
        return [ly for ly in self.viewer.layers if type(ly).__name__ == "Image"]

    def _layers_changed(self, event: Any = None) -> None:
        if event is not None and getattr(event, "type", "") == "inserted":
            event.value.events.name.connect(self._layers_changed)
        names = [ly.name for ly in self._images()]
        shapes = [ly.name for ly in self.viewer.layers if type(ly).__name__ == "Shapes"]
        _refill(self.sim_combo, names, hints=("full", "fd", "normal"))
        _refill(self.input_combo, names, hints=("low", "ld", "qd", "quarter", "dose"))
        _refill(self.train_full_combo, names, hints=("full", "fd", "normal"))
        _refill(self.train_low_combo, [SIMULATE, *names], hints=("low", "ld", "qd", "quarter"))
        _refill(self.ref_combo, [NONE, *names], hints=("full", "fd", "noise_free", "reference"))
        _refill(self.roi_combo, [NONE, *shapes], hints=("roi", "shapes"), first_hit=True)
        ticked = {self.layer_list.item(i).text(): self.layer_list.item(i).checkState()
                  for i in range(self.layer_list.count())}
        self.layer_list.clear()
        for n in names:
            item = QListWidgetItem(n)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(ticked.get(n, Qt.Checked))
            self.layer_list.addItem(item)

    def _layer(self, combo: QComboBox, what: str) -> Any:
        """The Image layer chosen in ``combo``, checked to be a 2-D slice or 3-D stack."""
        name = combo.currentText()
        if not name or name in (NONE, SIMULATE) or name not in self.viewer.layers:
            raise InvalidInputError(f"pick the {what} image layer first (open a CT in HU, e.g. File > Open Sample > "
                                    "napari-medai > Low-dose / full-dose CT pair)")
        layer = self.viewer.layers[name]
        if type(layer).__name__ != "Image":
            raise InvalidInputError(f"{name!r} is a {type(layer).__name__} layer; pick an image in HU")
        if getattr(layer, "rgb", False):
            raise InvalidInputError(f"{name!r} is an RGB picture; pick a CT image in HU")
        if getattr(layer, "multiscale", False):
            raise InvalidInputError(f"{name!r} is multiscale; open it at one resolution")
        shape = np.shape(layer.data)
        if len(shape) not in (2, 3):
            raise InvalidInputError(f"{name!r} has {len(shape)} dimensions {shape}; the LDCT tools take a 2-D slice "
                                    "or a 3-D stack (slices, rows, columns): split channels or time points first")
        return layer

    def _volume(self, layer: Any) -> Any:
        vol = layer_to_volume(layer)
        if vol.modality in ("", "unknown"):
            vol = vol.with_data(vol.data, modality="CT", units=vol.units or "HU")
        return vol

    def _put_image(self, vol: Any, like: Any, **extra: Any) -> Any:
        """Add ``vol`` as an Image layer (replacing one of the same name), with ``like``'s contrast."""
        data, kw, _ = volume_to_layer_data(vol)[0]
        kw["contrast_limits"] = tuple(like.contrast_limits)
        kw.update(extra)
        if kw["name"] in self.viewer.layers:
            self.viewer.layers.remove(kw["name"])
        layer = self.viewer.add_image(data, **kw)
        self._tick(layer.name)
        return layer

    def _tick(self, name: str) -> None:
        for i in range(self.layer_list.count()):
            if self.layer_list.item(i).text() == name:
                self.layer_list.item(i).setCheckState(Qt.Checked)

    # ================================================================== jobs
    @property
    def busy(self) -> bool:
        return self._worker is not None

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until the running job has finished and been shown (True) or the time is up."""
        return process_events_until(lambda: self._worker is None, timeout_s)

    def cancel(self) -> None:
        """Ask the running job to stop; nothing it computed is added (training keeps its best epoch)."""
        if self._worker is not None:
            self._flags.cancel = True
            self._set_status("cancelling…")

    def stop_training(self) -> None:
        """End the running training early and keep what was trained."""
        if self._worker is not None:
            self._flags.stop = True
            self._set_status("stopping training…")

    def _start(self, job: str, fn: Any, done: Any, message: str) -> bool:
        from napari.qt.threading import create_worker

        self._flags.cancel = self._flags.stop = False
        for b in (self.simulate_button, self.denoise_button, self.train_button, self.measure_button,
                  self.diff_button):
            b.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.stop_n2s_button.setEnabled(job == "noise2self")
        self.stop_train_button.setEnabled(job == "train")
        self.progress.setValue(0)
        self._set_status(message)
        worker = create_worker(_run, fn, _start_thread=False)
        worker.returned.connect(lambda payload: self._returned(done, payload))
        worker.finished.connect(self._finished)
        self._worker = worker
        worker.start()
        return True

    def _returned(self, done: Any, payload: tuple[str, Any]) -> None:
        from ..core.models.errors import Cancelled

        kind, value = payload
        try:
            if kind == "error":
                self.progress.setValue(0)
                if isinstance(value, Cancelled):
                    self._set_status(f"Cancelled ({value}); nothing was added.", error=True)
                else:
                    self._set_status(_error_text(value), error=True)
                return
            self.progress.setValue(1000)
            done(value)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never raised into napari
            self._set_status(_error_text(exc), error=True)

    def _finished(self) -> None:
        self._worker = None
        for b in (self.simulate_button, self.denoise_button, self.train_button, self.measure_button,
                  self.diff_button):
            b.setEnabled(True)
        for b in (self.cancel_button, self.stop_n2s_button, self.stop_train_button):
            b.setEnabled(False)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(1000 * max(0.0, min(1.0, float(fraction))))))
        if message:
            self._set_status(message)

    def _refuse(self, exc: BaseException) -> bool:
        self._set_status(_error_text(exc), error=True)
        return False

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(_RED if error else "")

    # ================================================================== simulate
    def _sim_layer_changed(self, name: str) -> None:
        if name in self.viewer.layers:
            scale = np.asarray(self.viewer.layers[name].scale, dtype=float)
            self.pixel_spin.setValue(float(scale[-1]))

    def _show_photons(self) -> None:
        n = self.i0_spin.value() * self.dose_spin.value() / 100.0
        self.photons_label.setText(f"The simulated scan gets {n:,.0f} photons per ray.")

    def simulate(self) -> bool:
        """Simulate the low-dose scan of the chosen full-dose layer off the GUI thread."""
        if self.busy:
            return self._refuse(InvalidInputError("busy: wait for the running job or cancel it"))
        try:
            layer = self._layer(self.sim_combo, "full-dose")
            vol = self._volume(layer)
            row, col = (float(v) for v in vol.spacing[-2:])
            if abs(row - col) > 1e-3 * max(row, col):
                raise InvalidInputError(f"{layer.name!r} has {row:g} x {col:g} mm pixels; the simulation needs "
                                        "square pixels: resample the slices first")
        except (MedaiError, ValueError) as exc:
            return self._refuse(exc)
        dose = self.dose_spin.value() / 100.0
        opts = {"pixel_size_mm": self.pixel_spin.value(), "dose_fraction": dose, "i0": self.i0_spin.value(),
                "electronic_noise_sd": self.enoise_spin.value()}
        seed = self.seed_spin.value()
        pair = self.ref_check.isChecked()
        flags = self._flags

        def work() -> tuple[np.ndarray, np.ndarray | None]:
            from ..core.models.errors import Cancelled
            from ..core.simulation import simulate_low_dose, simulate_low_dose_pair
            from ..core.tasks.ldct._common import as_image

            arr, _ = as_image(vol.data, what=layer.name)
            stack = arr[None] if arr.ndim == 2 else arr
            low = np.empty(stack.shape, np.float32)
            ref = np.empty(stack.shape, np.float32) if pair else None
            n = stack.shape[0]
            for k in range(n):
                if flags.cancel:
                    raise Cancelled("simulation cancelled")
                self._bridge.progressed.emit(k / n, f"simulating slice {k + 1}/{n}")
                s = slice_seed(seed, k, n)
                if ref is not None:
                    low[k], ref[k] = simulate_low_dose_pair(stack[k], seed=s, **opts)
                else:
                    low[k] = simulate_low_dose(stack[k], seed=s, **opts)
            if arr.ndim == 2:
                return low[0], None if ref is None else ref[0]
            return low, ref

        def done(value: tuple[np.ndarray, np.ndarray | None]) -> None:
            low, ref = value
            record = {**opts, "seed": seed, "slice_seeds": "the seed (one slice) or SeedSequence([seed, k])",
                      "from": layer.name}
            meta = {**vol.meta, "simulated_low_dose": record}
            name = f"{layer.name}_dose{100 * dose:g}%"
            self._put_image(vol.with_data(low, name=name, meta=meta, source=None), layer)
            added = [name]
            if ref is not None:
                rname = f"{layer.name}_noise_free"
                self._put_image(vol.with_data(ref, name=rname, source=None), layer)
                added.append(rname)
            self._set_status(f"Added {' and '.join(added)}: {100 * dose:g} % dose of I0 {opts['i0']:g} "
                             f"(electronic noise {opts['electronic_noise_sd']:g}), seed {seed}.")

        return self._start("simulate", work, done, "simulating…")

    # ================================================================== denoise
    def _method_changed(self) -> None:
        m = self.method_combo.currentText()
        self.method_pages.setCurrentWidget(self._page_of[m])
        is_n2s = m == "noise2self"
        self.n2s_plot.setVisible(is_n2s and self._n2s_ran)  # empty axes before the first run say nothing
        self.stop_n2s_button.setVisible(is_n2s)
        if m in MAIN_PARAMETER:
            pname, unit, high, step = MAIN_PARAMETER[m]
            value = self._classical_values.get(m)
            self.param_label.setText(f"{pname} ({unit})")
            self.param_spin.blockSignals(True)
            self.param_spin.setRange(0.0, high)
            self.param_spin.setSingleStep(step)
            self.param_auto.blockSignals(True)
            self.param_auto.setChecked(value is None)
            self.param_auto.blockSignals(False)
            if value is not None:
                self.param_spin.setValue(value)
            self.param_spin.setEnabled(value is not None)
            self.param_spin.blockSignals(False)
            self.param_note.setText(
                "auto: tuned default" if m == "gaussian" else "auto: scaled to the noise estimated in the image")
        self.check_model()

    def _auto_toggled(self, auto: bool) -> None:
        m = self.method_combo.currentText()
        if m not in MAIN_PARAMETER:
            return
        if auto:
            self._classical_values[m] = None
            self.param_spin.setEnabled(False)
            return
        value = self.param_spin.value()
        try:  # start from the value auto would use on this image
            from ..core.tasks.ldct import classical_parameters

            layer = self._layer(self.input_combo, "input")
            value = float(classical_parameters(m, np.asarray(layer.data, dtype=np.float32))[MAIN_PARAMETER[m][0]])
        except (MedaiError, ValueError):
            pass
        self._classical_values[m] = value
        self.param_spin.blockSignals(True)
        self.param_spin.setValue(value)
        self.param_spin.blockSignals(False)
        self.param_spin.setEnabled(True)

    def _param_edited(self, value: float) -> None:
        m = self.method_combo.currentText()
        if m in MAIN_PARAMETER and not self.param_auto.isChecked():
            self._classical_values[m] = float(value)

    def _browse_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "RED-CNN weights (state_dict)", "", "PyTorch (*.pt *.pth);;all (*)")
        if path:
            self.weights_edit.setText(path)
            self.check_model()

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Denoiser model folder (model.json + model.pt)")
        if path:
            self.folder_edit.setText(path)
            self.check_model()

    def _weights(self) -> str | None:
        m = self.method_combo.currentText()
        edit = self.weights_edit if m == "redcnn" else self.folder_edit if m == "trained" else None
        if edit is None:
            return None
        text = edit.text().strip()
        if not text:
            hint = ("give the RED-CNN weights file (.pt), e.g. redcnn_shared_L1_25.pt, with 'File…'" if m == "redcnn"
                    else "give a model folder written by the Train tab or 'napari-medai train ldct', with 'Folder…'")
            raise InvalidInputError(f"method {m!r} needs weights: {hint}")
        return text

    def check_model(self) -> bool:
        """Open the chosen weights and say what they are (trained on what, or NOT TRAINED)."""
        m = self.method_combo.currentText()
        self.model_info.setStyleSheet("")
        if m not in ("redcnn", "trained"):
            self.model_info.setText("")
            self.model_info.setVisible(False)
            return True
        self.model_info.setVisible(True)
        edit = self.weights_edit if m == "redcnn" else self.folder_edit
        if not edit.text().strip():
            self.model_info.setText("Choose the weights file with 'File…'." if m == "redcnn" else
                                    "Choose a model folder (from the Train tab) with 'Folder…'.")
            return False
        try:
            from ..core.tasks.ldct import load_denoiser

            model = load_denoiser(self._weights())
        except MedaiError as exc:
            self.model_info.setText(_error_text(exc))
            self.model_info.setStyleSheet(_RED)
            return False
        c = model.contract
        if c.is_trained:
            self.model_info.setText(f"{c.name}: {c.training_status}.")
        else:
            self.model_info.setText(f"{c.name}: NOT TRAINED (random weights); its output means nothing.")
            self.model_info.setStyleSheet(_RED)
        return True

    def denoise(self) -> bool:
        """Denoise the chosen input with the chosen method off the GUI thread (layer ``<input>_<method>``)."""
        if self.busy:
            return self._refuse(InvalidInputError("busy: wait for the running job or cancel it"))
        method = self.method_combo.currentText()
        try:
            layer = self._layer(self.input_combo, "input")
            vol = self._volume(layer)
            weights = self._weights()
            if weights is not None and not self.check_model():
                raise InvalidInputError(self.model_info.text())
        except (MedaiError, ValueError) as exc:
            return self._refuse(exc)
        options: dict[str, Any] = {}
        if method in MAIN_PARAMETER and self._classical_values.get(method) is not None:
            options[MAIN_PARAMETER[method][0]] = self._classical_values[method]
        if method == "noise2self":
            options = {**self.noise2self_options, "iterations": self.n2s_iter_spin.value(),
                       "seed": self.n2s_seed_spin.value()}
            self.n2s_plot.clear()
            self._n2s_ran = True
            self.n2s_plot.setVisible(True)
            self._curve = {"every": max(1, min(options["iterations"] // 100, 25)), "buf": []}
        blend, device = self.blend_spin.value(), self.device_combo.currentText()
        flags = self._flags

        def work() -> Any:
            from ..core.tasks.ldct import denoise

            return denoise(vol, method=method, weights=weights, options=options, blend=blend, device=device,
                           progress=self._bridge.progressed.emit, should_stop=lambda: flags.cancel,
                           on_metrics=self._bridge.metrics.emit if method == "noise2self" else None,
                           stop_training=lambda: flags.stop)

        def done(result: Any) -> None:
            self.last_result = result
            self._put_image(result.volume, layer)
            p = result.parameters
            shown = {k: v for k, v in p.items() if k not in ("weights_md5", "model", "device", "time_limit_s")}
            text = ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items())
            msg = f"Added {result.volume.name} ({method}, {result.seconds:.1f} s)."
            if method == "noise2self" and p.get("stop_reason") == "stopped":
                msg += f" Training was stopped after {p['iterations_run']} of {p['iterations']} steps."
            self._set_status(msg)
            notes = list(result.notes)
            self.notes.setText("<br>".join([f"<b>parameters</b>: {text}", *(f"<b>note</b>: {n}" for n in notes)]))
            self.notes.setStyleSheet(_RED if any("NOT TRAINED" in n for n in notes) else "")

        return self._start("noise2self" if method == "noise2self" else "denoise", work, done, f"{method}…")

    def _on_metrics(self, m: dict[str, Any]) -> None:
        if "kind" not in m:  # noise2self: block means of the per-step masked-pixel RMSE
            buf = self._curve.setdefault("buf", [])
            buf.append(m["masked_rmse_hu"])
            every = self._curve.get("every", 1)
            if len(buf) >= every:
                self.n2s_plot.add_point("masked RMSE", m["step"], float(np.mean(buf)))
                buf.clear()
            return
        if m["kind"] == "step":  # train_ldct
            buf = self._curve.setdefault("buf", [])
            buf.append(m["rmse_hu"])
            if len(buf) >= self._curve.get("every", 1):
                self.train_plot.add_point("train RMSE", m["global_step"], float(np.mean(buf)))
                buf.clear()
        else:
            self.train_plot.add_point("val. PSNR", m["global_step"], m.get("val_psnr"), right=True)
            val = m.get("val_psnr")
            self.train_info.setText(
                f"epoch {m['epoch']}: train RMSE {m['train_rmse_hu']:.1f} HU"
                + (f", validation PSNR {val:.2f} dB" if val is not None else "")
                + f"; best epoch {m['best_epoch']}")

    # ================================================================== train
    def _low_changed(self) -> None:
        sim = self.train_low_combo.currentText() == SIMULATE
        self.train_dose_spin.setEnabled(sim)
        self.train_i0_spin.setEnabled(sim)

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the trained model (new or empty)")
        if path:
            self.out_edit.setText(path)

    def train(self) -> bool:
        """Train RED-CNN on the chosen pair off the GUI thread, into the model folder."""
        if self.busy:
            return self._refuse(InvalidInputError("busy: wait for the running job or cancel it"))
        try:
            from ..core.tasks.ldct import LdctPair

            full_layer = self._layer(self.train_full_combo, "full-dose")
            full = self._volume(full_layer)
            simulate = self.train_low_combo.currentText() == SIMULATE
            low = None
            if not simulate:
                low_layer = self._layer(self.train_low_combo, "low-dose")
                if low_layer.name == full_layer.name:
                    raise InvalidInputError("the full-dose and low-dose layers are the same; pick the low-dose scan "
                                            f"or '{SIMULATE}'")
                low = self._volume(low_layer)
                if low.data.shape != full.data.shape:
                    raise InvalidInputError(
                        f"{low_layer.name!r} {low.data.shape} and {full_layer.name!r} {full.data.shape} differ in "
                        "shape; pick the low-dose scan of the same slices on the same grid")
            out = self.out_edit.text().strip()
            if not out:
                raise InvalidInputError("give a model folder (new or empty) with 'Folder…' or by typing a path")
            px = float(full.spacing[-1])
            if full.data.ndim == 3 and full.data.shape[0] > 1:  # one pair per slice: validation holds slices out
                pairs = [LdctPair(full_dose=full.data[k], low_dose=None if low is None else low.data[k],
                                  name=f"{full_layer.name}[{k}]", pixel_size_mm=px)
                         for k in range(full.data.shape[0])]
            else:
                pairs = [LdctPair(full_dose=full.data, low_dose=None if low is None else low.data,
                                  name=full_layer.name, pixel_size_mm=px)]
        except (MedaiError, ValueError) as exc:
            return self._refuse(exc)
        kw = {"out_dir": Path(out).expanduser(), "simulate_dose": self.train_dose_spin.value() / 100.0 if simulate
              else None, "i0": self.train_i0_spin.value(), "filters": self.filters_spin.value(),
              "patch": self.patch_spin.value(), "batch_size": self.batch_spin.value(),
              "steps_per_epoch": self.steps_spin.value(), "max_epochs": self.epochs_spin.value(),
              "val_fraction": self.val_spin.value(), "seed": self.train_seed_spin.value(),
              "device": self.train_device_combo.currentText()}
        self.train_plot.clear()
        self.train_plot.setVisible(True)
        self.train_info.setText("")
        self._curve = {"every": max(1, min(kw["steps_per_epoch"] // 10, 25)), "buf": []}
        flags = self._flags

        def work() -> Any:
            from ..core.tasks.ldct import train_ldct

            return train_ldct(pairs, **kw, progress=self._bridge.progressed.emit,
                              should_stop=lambda: flags.cancel or flags.stop,
                              on_metrics=self._bridge.metrics.emit)

        def done(result: Any) -> None:
            self.last_result = result
            self.folder_edit.setText(str(result.out_dir))
            stopped = " (stopped by you; the best finished epoch was kept)" if result.stop_reason == "cancelled" else ""
            self._set_status(f"{result.summary()}{stopped}. Use it in the Denoise tab with method 'trained' (the "
                             "folder is filled in).")

        return self._start("train", work, done, "preparing the training pairs…")

    # ================================================================== measure
    def _ticked(self) -> list[str]:
        return [self.layer_list.item(i).text() for i in range(self.layer_list.count())
                if self.layer_list.item(i).checkState() == Qt.Checked]

    def measure(self) -> bool:
        """PSNR / SSIM / RMSE against the reference and the ROI noise SD of every ticked layer (off the GUI thread)."""
        if self.busy:
            return self._refuse(InvalidInputError("busy: wait for the running job or cancel it"))
        window = (self.win_lo.value(), self.win_hi.value())
        try:
            if window[1] <= window[0]:
                raise InvalidInputError(f"the window needs low < high, got {window[0]:g} to {window[1]:g} HU")
            ref_layer = None
            if self.ref_combo.currentText() != NONE:
                ref_layer = self._layer(self.ref_combo, "reference")
            roi_name = self.roi_combo.currentText()
            roi = self.viewer.layers[roi_name] if roi_name != NONE and roi_name in self.viewer.layers else None
            names = self._ticked()
            if not names:
                raise InvalidInputError("tick at least one image layer to measure")
            if ref_layer is None and roi is None:
                raise InvalidInputError("pick a reference (full-dose) layer for PSNR/SSIM/RMSE, or a Shapes layer "
                                        "with a region in uniform tissue for the noise SD, or both")
            jobs, notes = [], []
            ref = None if ref_layer is None else np.asarray(ref_layer.data, dtype=np.float32)
            for name in names:
                layer = self._layer(_Fixed(name), name)
                data = np.asarray(layer.data, dtype=np.float32)
                mask = None
                if roi is not None:
                    mask, skipped = shapes_to_mask(roi, layer, tuple(self.viewer.dims.point))
                    notes.extend(f"{roi.name}: {s}" for s in skipped if f"{roi.name}: {s}" not in notes)
                is_ref = ref_layer is not None and name == ref_layer.name
                jobs.append((name, data, mask, is_ref))
        except (MedaiError, ValueError) as exc:
            return self._refuse(exc)

        flags = self._flags

        def work() -> list[dict[str, Any]]:
            from ..core.metrics.image_quality import image_quality, noise_sd
            from ..core.models.errors import Cancelled

            rows = []
            for i, (name, data, mask, is_ref) in enumerate(jobs):
                if flags.cancel:
                    raise Cancelled("measuring cancelled")
                self._bridge.progressed.emit(i / len(jobs), f"measuring {name}")
                row: dict[str, Any] = {"name": name, "psnr": None, "ssim": None, "rmse": None, "noise_sd": None,
                                       "problem": None}
                try:
                    if ref is not None and not is_ref:
                        if data.shape != ref.shape:
                            raise InvalidInputError(
                                f"{name!r} has shape {data.shape} but the reference has {ref.shape}; pick the "
                                "reference of the same slices on the same grid (or untick it)")
                        row.update(image_quality(data, ref, window=window))
                    if mask is not None:
                        row["noise_sd"] = noise_sd(data, mask)
                except MedaiError as exc:
                    row["problem"] = str(exc)
                rows.append(row)
            return rows

        def done(rows: list[dict[str, Any]]) -> None:
            self.rows = rows
            self.last_result = rows
            self._fill_table(rows, ref_layer.name if ref_layer is not None else None)
            problems = [r["problem"] for r in rows if r["problem"]]
            text = (f"Measured {len(rows)} image(s) in the window {window[0]:g} to {window[1]:g} HU"
                    + (f" against {ref_layer.name}" if ref_layer is not None else " (no reference: noise SD only)")
                    + (f"; noise SD in {roi.name}" if roi is not None else "; no ROI: no noise SD") + ".")
            self._set_status(" ".join([text, *notes, *problems]), error=bool(problems))

        return self._start("measure", work, done, "measuring…")

    def _fill_table(self, rows: list[dict[str, Any]], ref_name: str | None) -> None:
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            label = r["name"] + (" (reference)" if r["name"] == ref_name else "")
            cells = [label, _num(r["psnr"], 2), _num(r["ssim"], 3), _num(r["rmse"], 1), _num(r["noise_sd"], 1)]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text if not (r["problem"] and j in (1, 2, 3)) else "error")
                if j:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if r["problem"]:
                    item.setToolTip(r["problem"])
                self.table.setItem(i, j, item)

    def add_difference(self) -> bool:
        """Add (image - reference) for the selected row (or the last row) as a layer on the image's grid."""
        try:
            ref_layer = self._layer(self.ref_combo, "reference (full-dose)")
            rows = sorted({ix.row() for ix in self.table.selectedIndexes()})
            names = [r["name"] for r in self.rows if r["name"] != ref_layer.name]
            if rows and rows[0] < len(self.rows):
                name = self.rows[rows[0]]["name"]
            elif names:
                name = names[-1]
            else:
                raise InvalidInputError("measure first, then select the row of the image to compare")
            if name == ref_layer.name:
                raise InvalidInputError("the selected row is the reference itself; select another image")
            layer = self._layer(_Fixed(name), name)
            img = np.asarray(layer.data, dtype=np.float32)
            ref = np.asarray(ref_layer.data, dtype=np.float32)
            if img.shape != ref.shape:
                raise InvalidInputError(f"{name!r} has shape {img.shape} but the reference {ref_layer.name!r} has "
                                        f"{ref.shape}; pick a reference on the same grid")
            vol = self._volume(layer)
            diff_name = f"{name} - {ref_layer.name}"
            half = (self.win_hi.value() - self.win_lo.value()) / 4.0
            new = self._put_image(vol.with_data(img - ref, name=diff_name, source=None), layer,
                                  colormap="coolwarm", contrast_limits=(-half, half))
        except (MedaiError, ValueError) as exc:
            return self._refuse(exc)
        self._set_status(f"Added {new.name} (HU; colour range ±{half:g} HU).")
        return True


# -------------------------------------------------------------------------------------------- helpers
class _Flags:
    """What the GUI asks of the running job; read by the worker thread (plain attributes, no Qt)."""

    cancel = False
    stop = False


class _Fixed:
    """A stand-in for a combo box holding one layer name (so every layer goes through the same checks)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def currentText(self) -> str:  # noqa: N802 - Qt's name
        return self._name


def _run(fn: Any) -> tuple[str, Any]:
    # napari 0.9: a worker's `errored` hook is broken and superqt re-raises returned exceptions, so
    # errors come back as values and the widget shows them.
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - shown in the widget
        return ("error", exc)


def _refill(combo: QComboBox, names: list[str], *, hints: tuple[str, ...], first_hit: bool = False) -> None:
    """Replace the items of ``combo``; keep its choice, else pick the first name matching a hint."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(names)
    combo.blockSignals(False)
    if current in names:
        combo.setCurrentText(current)
        if current not in (NONE, SIMULATE):  # a layer chosen stays chosen; 'none' gives way to a likely layer
            return
    for hint in hints:
        hit = [n for n in names if hint in n.lower()]
        if hit:
            combo.setCurrentText(hit[0] if first_hit else min(hit, key=len))
            break
    if combo.currentText() != current:
        combo.currentTextChanged.emit(combo.currentText())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


__all__ = ["LdctWidget", "shapes_to_mask", "slice_seed"]
