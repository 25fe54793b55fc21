"""Classify image (Plugins > napari-medai > Classify image): the GUI of ``napari-medai classify``.

The widget only wires. A classifier folder is chosen with "Model folder…" and described from its contract
(:mod:`.model_folder`: not a classifier, or NOT TRAINED, is said in red and nothing is run). The "Image" tab
classifies an open 2-D image layer with :func:`~napari_medai.core.tasks.classify.classify_image` off the GUI
thread (the shared :class:`~napari_medai._napari._jobs.JobRunner`: progress, Cancel, an error shown once) and
shows each class's probability as a bar with its decision threshold (:mod:`.chart`) and the class-activation
map of the class picked under "map for" as a semi-transparent layer on the image (:mod:`.layers`). The
"Folder" tab classifies every image of a folder in the background; the sortable table fills in as images
finish (:mod:`.results`), and a click on a row opens that image with its map. An untrained model never
shows probabilities or a map.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import InvalidInputError, MedaiError
from .._jobs import JobRunner
from .._widgets import (
    RED,
    CurrentPageTabWidget,
    error_text,
    process_events_until,
    scroll_vertically,
    watch_layer_names,
    wrapped,
)
from ..layers import META_KEY
from .chart import ProbabilityChart
from .layers import add_or_update_map, classifiable_names, image_input, is_map, replace_image
from .model_folder import NO_MODEL_REFUSAL, ClassifierInfo, describe_classifier_folder
from .results import FolderTable, probability_lines, status_text

if TYPE_CHECKING:
    import napari

PLUGIN = "napari-medai"
#: The "map for" choice that follows the result (the class with the highest probability).
TOP_CLASS = "most probable class"
TIPS = {
    "model": "Choose a napari-medai classifier folder (model.json + model.pt), e.g. one trained with "
             "'napari-medai train classify' or the classification training widget",
    "image": "An open 2-D image layer (a radiograph); grey images saved as RGB are read as one channel",
    "map": "The class whose activation map (Grad-CAM) is drawn over the image",
    "classify": "Classify the chosen image (off the GUI thread; Cancel stops it and adds nothing)",
    "folder": "Choose a folder of images (searched with its sub-folders)",
    "run_folder": "Classify every image of the folder; the table fills in as images finish",
}


def _opened_from(layer: Any) -> str:
    """The file a layer was read from ('' when none): napari-medai's record, else napari's own."""
    source = ((getattr(layer, "metadata", None) or {}).get(META_KEY, {}) or {}).get("source")
    return str(source or getattr(getattr(layer, "source", None), "path", None) or "")


def _same_file(a: str, b: str) -> bool:
    """Two paths of one file (links resolved); False when either is empty."""
    if not a or not b:
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def _open(viewer: Any, path: str) -> list:
    """File > Open of ``path`` with the napari-medai reader (geometry, grey channel), else napari's own."""
    try:
        return viewer.open(path, plugin=PLUGIN)
    except ValueError as exc:
        if "not a compatible reader" not in str(exc):
            raise
        return viewer.open(path)  # a format the napari-medai reader does not claim (e.g. BMP)


class ClassifyWidget(QWidget):
    """Classify 2-D images with a trained classifier and show the class-activation map (see module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.info = ClassifierInfo("", False)
        self.result: Any = None  # ImageClassification shown in the chart
        self.result_layer = ""  # name of the image layer it belongs to
        self.map_layer: Any = None
        self.opened_layer: Any = None  # the image a table click opened (replaced by the next click)
        self.folder_results: dict[str, Any] = {}  # path -> ImageClassification of the folder run

        self.jobs = JobRunner("Choose a classifier folder and an image, then Classify.")
        self.status = self.jobs.status
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("a trained classifier folder")
        self.model_edit.setReadOnly(True)
        self.model_button = QPushButton("Model folder…")
        self.xrv_combo = QComboBox()  # torchxrayvision's published weights on this machine, when there are any
        self._offer_xrv_weights()
        self.model_info = wrapped()
        self.tabs = CurrentPageTabWidget()

        self.image_combo = QComboBox()
        self.image_combo.setPlaceholderText("open a 2-D image")
        self.class_combo = QComboBox()
        self.classify_button = QPushButton("Classify")
        self.chart = ProbabilityChart("Probabilities appear here after Classify.")
        self.result_text = wrapped()

        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder of images")
        self.folder_button = QPushButton("Image folder…")
        self.run_folder_button = QPushButton("Classify folder")
        self.table = FolderTable()
        self.folder_info = wrapped()

        for control, key in ((self.model_button, "model"), (self.image_combo, "image"), (self.class_combo, "map"),
                             (self.classify_button, "classify"), (self.folder_button, "folder"),
                             (self.run_folder_button, "run_folder")):
            control.setToolTip(TIPS[key])
        self._build()
        self.model_button.clicked.connect(self.choose_model_folder)
        self.classify_button.clicked.connect(self.classify)
        self.class_combo.currentIndexChanged.connect(lambda _i: self._map_class_chosen())
        self.folder_button.clicked.connect(self.choose_image_folder)
        self.run_folder_button.clicked.connect(self.classify_folder)
        self.table.chosen.connect(self.open_row)
        self.image_combo.currentTextChanged.connect(lambda _t: self._image_changed())
        watch_layer_names(self, viewer, self.refresh_images)
        self.jobs.add_run_buttons(self.classify_button, self.run_folder_button)
        self.set_model_folder("")
        self.refresh_images()

    def _build(self) -> None:
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, stretch=1)
        model_row.addWidget(self.model_button)
        model_row.addWidget(self.xrv_combo)
        top = QFormLayout()
        top.addRow("model", model_row)

        image_page = QWidget()
        form = QFormLayout()
        form.addRow("image", self.image_combo)
        page = QVBoxLayout(image_page)
        page.addLayout(form)
        page.addWidget(self.classify_button)

        folder_page = QWidget()
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, stretch=1)
        folder_row.addWidget(self.folder_button)
        fform = QFormLayout()
        fform.addRow("folder", folder_row)
        fpage = QVBoxLayout(folder_page)
        fpage.addLayout(fform)
        fpage.addWidget(self.run_folder_button)
        fpage.addWidget(self.folder_info)
        fpage.addWidget(self.table)
        self.tabs.addTab(image_page, "Image")
        self.tabs.addTab(folder_page, "Folder")
        shared = QFormLayout()  # under both tabs: a table click shows its image's bars without leaving the table
        shared.addRow("map for", self.class_combo)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(top)
        layout.addWidget(self.model_info)
        layout.addWidget(self.tabs)
        layout.addLayout(shared)
        layout.addWidget(self.jobs)
        layout.addWidget(self.chart)
        layout.addWidget(self.result_text)
        layout.addStretch(1)
        self._scroll = scroll_vertically(self, content)
        self.table.setVisible(False)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        QTimer.singleShot(0, self._scroll.updateGeometry)  # napari's theme, applied now, widens some fields

    # ------------------------------------------------------------------ the model
    def choose_model_folder(self) -> None:
        """Ask for a classifier folder."""
        path = QFileDialog.getExistingDirectory(self, "Classifier folder (model.json + model.pt)")
        if path:
            self.set_model_folder(path)

    def _offer_xrv_weights(self) -> None:
        """List torchxrayvision's published weights found in its cache (hidden when there are none)."""
        from ...core.tasks.classify.xrv import find_xrv_weights

        found = [f"xrv:{w.name}" for w, _ in find_xrv_weights()]
        self.xrv_combo.addItems(["torchxrayvision…", *found])
        self.xrv_combo.setToolTip("torchxrayvision's published chest X-ray DenseNets found on this machine "
                                  "(napari-medai classify xrv --download NAME fetches one)")
        self.xrv_combo.setVisible(bool(found))
        self.xrv_combo.activated.connect(
            lambda i: self.set_model_folder(self.xrv_combo.itemText(i)) if i > 0 else None)

    def set_model_folder(self, path: str) -> None:
        """Use the classifier in ``path``: its description is shown at once (no weights are loaded here)."""
        self.model_edit.setText(str(path))
        self.info = describe_classifier_folder(str(path))
        self.model_info.setText(self.info.text)
        self.model_info.setStyleSheet("" if self.info.usable else RED)
        self._clear_result("Probabilities appear here after Classify." if self.info.usable else
                           "No trained classifier: nothing to show.")
        current = self.class_combo.currentText()
        self.class_combo.blockSignals(True)  # a new model's classes: no map to remake yet
        self.class_combo.clear()
        self.class_combo.addItems([TOP_CLASS, *self.info.classes])
        if current in self.info.classes:
            self.class_combo.setCurrentText(current)
        self.class_combo.blockSignals(False)

    def _refusal(self) -> InvalidInputError | None:
        """Why the chosen model cannot be run (none, not a classifier, untrained), or None."""
        if not self.model_edit.text().strip():
            return InvalidInputError(NO_MODEL_REFUSAL)
        if not self.info.usable:
            return InvalidInputError(self.info.text)
        return None

    # ------------------------------------------------------------------ the image
    def refresh_images(self, *_: Any) -> None:
        """Offer the open 2-D images; keep the choice while its layer is open (the newest otherwise)."""
        names = classifiable_names(self.viewer)
        current = self.image_combo.currentText()
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self.image_combo.addItems(names)
        if current in names:
            self.image_combo.setCurrentText(current)
        elif names:
            self.image_combo.setCurrentIndex(len(names) - 1)  # the image opened last
        self.image_combo.blockSignals(False)
        if self.image_combo.currentText() != current:
            self._image_changed()

    def _image_changed(self) -> None:
        if self.result is not None and self.image_combo.currentText() != self.result_layer:
            self.result_text.setText(f"The chart shows '{self.result_layer}'; press Classify for "
                                     f"'{self.image_combo.currentText()}'.")

    def _clear_result(self, text: str) -> None:
        self.result = None
        self.result_layer = ""
        self.chart.clear(text)
        self.result_text.setText("")

    def _map_class(self) -> str | None:
        text = self.class_combo.currentText()
        return None if not text or text == TOP_CLASS else text

    def _map_class_chosen(self) -> None:
        """Another class picked under "map for": the map of the image shown is made again for it."""
        if self.result is not None and self.result_layer in self.viewer.layers and not self.jobs.busy:
            self.classify(layer_name=self.result_layer)

    # ------------------------------------------------------------------ running
    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def wait_idle(self, timeout_s: float = 120.0) -> bool:
        """Process events until no job runs (tests, scripts); False when the time is up."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def classify(self, *_: Any, layer_name: str | None = None) -> bool:
        """Classify the chosen image (or ``layer_name``) off the GUI thread; False (and why, in red) when refused."""
        refusal = self._refusal()
        if refusal is not None:
            return self.jobs.refuse(refusal)
        name = layer_name or self.image_combo.currentText()
        if not name or name not in self.viewer.layers:
            return self.jobs.refuse(InvalidInputError("no image chosen: open a 2-D image (File > Open) and choose "
                                                      "it under 'image'"))
        layer = self.viewer.layers[name]
        try:
            image = image_input(layer)
        except InvalidInputError as exc:
            return self.jobs.refuse(exc)
        folder = self.model_edit.text().strip()
        cam_class = self._map_class()

        def work() -> Any:
            from ...core.tasks.classify import classify_image

            self.jobs.progress_callback(0.1, f"classifying '{name}'…")
            return classify_image(folder, image, cam_class=cam_class)

        return self.jobs.start(work, lambda result: self._show(result, name), f"classifying '{name}'…")

    def _show(self, result: Any, name: str) -> Iterator[None]:
        """Show a result: the bars first, then (after a turn of the event loop) the map layer."""
        if not result.trained:  # never reached with a usable folder; said anyway rather than shown
            self._clear_result("NOT TRAINED: no probabilities are shown.")
            self.jobs.set_status(f"{result.model_name} is not trained: nothing is shown.", error=True)
            return
        self.result = result
        self.result_layer = name
        self.chart.show_probabilities(result.class_names, result.probabilities, result.thresholds)
        self.result_text.setText(probability_lines(result))
        if self.image_combo.currentText() != name and name in classifiable_names(self.viewer):
            self.image_combo.setCurrentText(name)
        yield  # the chart is drawn while napari waits to make the map layer
        if result.cam is not None and result.cam_class and name in self.viewer.layers:
            self.map_layer = add_or_update_map(self.viewer, self.viewer.layers[name], result.cam, result.cam_class,
                                               self.map_layer)
            self.viewer.layers.selection.active = self.viewer.layers[name]
        self.jobs.set_status(status_text(result, name) + (f" Map: {result.cam_class}." if result.cam_class else ""))

    # ------------------------------------------------------------------ the folder
    def choose_image_folder(self) -> None:
        """Ask for a folder of images."""
        path = QFileDialog.getExistingDirectory(self, "Folder of images to classify")
        if path:
            self.folder_edit.setText(path)

    def classify_folder(self) -> bool:
        """Classify every image of the folder off the GUI thread; rows appear as images finish."""
        refusal = self._refusal()
        if refusal is not None:
            return self.jobs.refuse(refusal)
        text = self.folder_edit.text().strip()
        root = Path(text).expanduser()
        if not text or not root.is_dir():
            return self.jobs.refuse(InvalidInputError(f"{text or 'no folder chosen'}: not a folder; choose a folder "
                                                      "of images with 'Image folder…'"))
        from ...core.tasks.classify import expand_inputs

        try:
            files = expand_inputs(root)
        except InvalidInputError as exc:
            return self.jobs.refuse(exc)
        folder = self.model_edit.text().strip()
        jobs = self.jobs
        self.folder_results = {}
        self.table.start(root, self.info.classes)
        self.table.setVisible(True)
        self.folder_info.setText(f"{len(files)} image(s) in {root}")

        def work() -> int:
            from ...core.callbacks import Cancelled
            from ...core.tasks.classify import classify_image, load_classifier

            model = load_classifier(folder)  # once for the whole folder
            done = 0
            for i, path in enumerate(files):
                if jobs.cancelled():
                    raise Cancelled(f"after {done} of {len(files)} images")
                try:
                    result = classify_image(model, path, cam=False)  # the map is made when a row is opened
                    jobs.metrics_callback({"path": str(path), "result": result})
                    done += 1
                except MedaiError as exc:  # an unreadable file: its row says why; the others go on
                    jobs.metrics_callback({"path": str(path), "result": None, "error": error_text(exc)})
                jobs.progress_callback((i + 1) / len(files), f"{i + 1} of {len(files)} images")
            return done

        return jobs.start(work, lambda n: self._folder_done(n, len(files)), f"classifying {len(files)} images…",
                          on_metrics=self._row_done, on_error=lambda _e: self._folder_stopped(len(files)))

    def _row_done(self, m: dict[str, Any]) -> None:
        if m.get("result") is not None:
            self.folder_results[m["path"]] = m["result"]
        self.table.add_result(m["path"], m.get("result"), m.get("error", ""))

    def _folder_done(self, n: int, total: int) -> None:
        bad = total - n
        self.folder_info.setText(f"{n} of {total} image(s) classified" + (f"; {bad} could not be read" if bad else "")
                                 + ". Click a row to open the image with its map.")
        self.jobs.set_status(f"Folder classified: {n} image(s). A research tool, not a diagnosis.")

    def _folder_stopped(self, total: int) -> None:
        self.folder_info.setText(f"Stopped: the table keeps the {len(self.folder_results)} of {total} image(s) "
                                 "classified before.")

    def open_row(self, path: str) -> bool:
        """Open the image of a table row (replacing the one the previous click opened) and classify it with its map."""
        if self.jobs.busy:
            return self.jobs.refuse(InvalidInputError("busy: wait for the folder run or press Cancel, then click "
                                                      "the row again"))
        layer = next((ly for ly in self.viewer.layers if _same_file(_opened_from(ly), path) and not is_map(ly)), None)
        if layer is None:
            previous = self.opened_layer if self.opened_layer in self.viewer.layers else None
            try:
                if previous is not None and replace_image(previous, path):
                    layer = previous  # the previous row's image, now this one's
                else:
                    if previous is not None:
                        self.viewer.layers.remove(previous)
                    layers = _open(self.viewer, path)
                    layer = layers[0] if layers else None
            except Exception as exc:  # noqa: BLE001 - napari wraps reader errors; shown in the widget
                return self.jobs.refuse(InvalidInputError(f"{path}: cannot be opened ({error_text(exc)})"))
            self.opened_layer = layer
            self.viewer.reset_view()
        if layer is None:
            return self.jobs.refuse(InvalidInputError(f"{path}: napari opened no layer"))
        self.image_combo.setCurrentText(layer.name)
        return self.classify(layer_name=layer.name)


__all__ = ["TOP_CLASS", "ClassifyWidget"]
