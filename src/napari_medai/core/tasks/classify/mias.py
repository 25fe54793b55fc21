"""The MIAS MiniMammographic database as classification data sets, with patient-level splits.

MIAS (Suckling et al. 1994) lists each mammogram's background tissue, abnormality class, severity and
lesion circle in ``labels.csv`` (one row per lesion; an image may have several, a normal one has one
``NORM`` row). The lesion centre ``x, y`` and radius are in pixels of the ORIGINAL 1024 x 1024 film with the
origin at the BOTTOM-LEFT corner (``Info.txt``, note 3); the shared copy's PNGs are 512 x 512 (downscaled
x 2). :func:`circle_on_grid` turns a lesion into (row, column, radius) on any image's pixel grid (row 0 at
the top). Consecutive numbers (``mdb001`` / ``mdb002``, ``mdb003`` / ``mdb004`` ...) are the right and left
breast of one woman (odd right, even left; ``Info.txt``, note 1): :func:`patient_of` names her, and splits keep her two images on
one side (:func:`patient_folds`, and ``train_classify(..., groups=group_of)``).

Two tasks are built from it (:func:`task_items`): ``"abnormal"`` (normal vs any abnormality) and
``"malignancy"`` (benign vs malignant, abnormal images only; an image with a malignant lesion is malignant).
:func:`write_class_folders` lays a split out as the review's one-folder-per-class tree (links to the PNGs,
nothing copied), which :func:`~napari_medai.core.tasks.classify.train_classify` reads. :func:`cam_hit_rate`
measures how often a class-activation map's peak falls inside an annotated lesion circle, beside the rate a
peak placed at random in the breast would reach.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InvalidInputError

__all__ = [
    "ORIGINAL_SIZE", "TASKS", "CamHits", "MiasImage", "MiasLesion", "cam_hit_rate", "cam_peak", "circle_on_grid",
    "group_of", "patient_folds", "patient_of", "read_mias", "task_items", "write_class_folders",
]

#: Edge of the original MIAS films in pixels (200 um); the lesion coordinates are on this grid.
ORIGINAL_SIZE = 1024
#: The two tasks and their classes (negative first).
TASKS = {"abnormal": ("normal", "abnormal"), "malignancy": ("benign", "malignant")}
#: Abnormality classes of ``labels.csv``.
ABNORMALITIES = ("CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM")
_NAME = re.compile(r"^mdb(\d{3})$")


def _number(text: str | None) -> float | None:
    """A coordinate of ``labels.csv`` (empty or ``*NOTE 3*`` for widely spread calcifications: None)."""
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class MiasLesion:
    """One row of ``labels.csv`` that is not ``NORM``.

    Attributes
    ----------
    abnormality : str
        CALC, CIRC, SPIC, MISC, ARCH or ASYM.
    severity : str
        ``"B"`` (benign) or ``"M"`` (malignant).
    x, y, radius : float or None
        Centre and radius in pixels of the original 1024 x 1024 film, origin at the bottom-left; None where
        the database gives none (calcifications spread over the breast).
    """

    abnormality: str
    severity: str
    x: float | None = None
    y: float | None = None
    radius: float | None = None

    @property
    def has_circle(self) -> bool:
        return self.x is not None and self.y is not None and self.radius is not None


def circle_on_grid(lesion: MiasLesion, shape: Sequence[int], *,
                   original_size: int = ORIGINAL_SIZE) -> tuple[float, float, float] | None:
    """The lesion circle as ``(row, column, radius)`` in pixels of an image of ``shape`` (row 0 at the top).

    The film's ``original_size`` pixels span the image; a pixel centre maps to a pixel centre, so the
    original pixel ``(x, y)`` (``y`` counted up from the bottom row) lies at column
    ``(x + 0.5) * W / original_size - 0.5`` and row ``(original_size - 1 - y + 0.5) * H / original_size - 0.5``;
    the radius scales by ``W / original_size``. None when the lesion has no circle.

    Parameters
    ----------
    lesion
        A lesion of :func:`read_mias`.
    shape
        ``(H, W)`` of the image the circle goes on (512 x 512 for the shared PNGs).
    original_size
        Edge of the original film the coordinates refer to.
    """
    if not lesion.has_circle:
        return None
    h, w = (int(s) for s in shape[-2:])
    sy, sx = h / original_size, w / original_size
    row = (original_size - 1 - float(lesion.y) + 0.5) * sy - 0.5  # type: ignore[arg-type]
    col = (float(lesion.x) + 0.5) * sx - 0.5  # type: ignore[arg-type]
    return row, col, float(lesion.radius) * sx  # type: ignore[arg-type]


def patient_of(name: str) -> str:
    """The woman an image belongs to: ``mdb001`` and ``mdb002`` -> ``"woman001"`` (odd/even pairs).

    Raises :class:`InvalidInputError` for a name that is not ``mdbNNN`` (a file stem is accepted).
    """
    stem = Path(str(name)).name.split(".")[0]
    m = _NAME.match(stem)
    if m is None:
        raise InvalidInputError(f"{name}: not a MIAS image name (mdb001 ... mdb322); patient groups come from the "
                                "number, so keep the database's file names")
    number = int(m.group(1))
    return f"woman{(number + 1) // 2:03d}"


def group_of(path: str | os.PathLike[str]) -> str:
    """``groups=`` of ``train_classify``: a MIAS file's woman (:func:`patient_of` of its file name)."""
    return patient_of(Path(path).name)


@dataclass(frozen=True)
class MiasImage:
    """One mammogram of the database with its lesions (none for a normal one).

    Attributes
    ----------
    name : str
        ``mdbNNN``.
    path : Path
        The PNG.
    tissue : str
        Background tissue: F (fatty), G (fatty-glandular), D (dense-glandular).
    lesions : tuple of MiasLesion
        Its abnormalities (empty when normal).
    """

    name: str
    path: Path
    tissue: str
    lesions: tuple[MiasLesion, ...] = field(default=())

    @property
    def abnormal(self) -> bool:
        return bool(self.lesions)

    @property
    def malignant(self) -> bool | None:
        """True with any malignant lesion, False when all are benign, None for a normal image."""
        return any(le.severity == "M" for le in self.lesions) if self.lesions else None

    @property
    def patient(self) -> str:
        return patient_of(self.name)

    def circles(self, shape: Sequence[int]) -> list[tuple[float, float, float]]:
        """The lesion circles that have coordinates, on an image of ``shape`` (:func:`circle_on_grid`)."""
        return [c for le in self.lesions for c in [circle_on_grid(le, shape)] if c is not None]


def read_mias(root: str | os.PathLike[str], *, labels: str = "labels.csv", images: str = "images") -> list[MiasImage]:
    """The images of a MIAS folder (``labels.csv`` + ``images/mdbNNN.png``), in name order.

    Only images whose PNG is present are returned (the shared copy holds mdb001-mdb240).

    Raises
    ------
    InvalidInputError
        No ``labels.csv``, a row with an unknown abnormality or severity, or no image file at all.
    """
    root = Path(root)
    csv_path = root / labels
    if not csv_path.is_file():
        raise InvalidInputError(f"{root}: no {labels} (the MIAS folder holds labels.csv and images/mdbNNN.png)")
    rows: dict[str, dict] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"Name", "Background Tissue", "Abnormality", "Type", "x", "y", "r"}
        if not need <= set(reader.fieldnames or ()):
            raise InvalidInputError(f"{csv_path}: columns {sorted(need)} expected, found {reader.fieldnames}")
        for n, row in enumerate(reader, start=2):
            name = row["Name"].strip()
            patient_of(name)  # the name check
            abn = row["Abnormality"].strip().upper()
            if abn not in ABNORMALITIES:
                raise InvalidInputError(f"{csv_path} line {n}: abnormality {abn!r} is none of {ABNORMALITIES}")
            entry = rows.setdefault(name, {"tissue": row["Background Tissue"].strip(), "lesions": []})
            if abn == "NORM":
                continue
            sev = (row["Type"] or "").strip().upper()
            if sev not in ("B", "M"):
                raise InvalidInputError(f"{csv_path} line {n}: severity {sev!r} of {name} is neither B nor M")
            x, y, r = _number(row["x"]), _number(row["y"]), _number(row["r"])
            if x is None or y is None or r is None:
                x = y = r = None
            entry["lesions"].append(MiasLesion(abn, sev, x, y, r))
    out = []
    for name in sorted(rows):
        path = root / images / f"{name}.png"
        if path.is_file():
            out.append(MiasImage(name, path, rows[name]["tissue"], tuple(rows[name]["lesions"])))
    if not out:
        raise InvalidInputError(f"{root / images}: none of the {len(rows)} images of {labels} is there "
                                "(expected mdbNNN.png files)")
    return out


def task_items(images: Iterable[MiasImage], task: str) -> list[tuple[MiasImage, str]]:
    """``(image, class)`` pairs of a task: ``"abnormal"`` (every image) or ``"malignancy"`` (abnormal ones)."""
    if task not in TASKS:
        raise InvalidInputError(f"unknown MIAS task {task!r}; choose one of {sorted(TASKS)}")
    neg, pos = TASKS[task]
    if task == "abnormal":
        return [(im, pos if im.abnormal else neg) for im in images]
    return [(im, pos if im.malignant else neg) for im in images if im.abnormal]


def patient_folds(items: Sequence[tuple[MiasImage, str]], k: int, *, seed: int = 0) -> list[list[int]]:
    """Split ``items`` into ``k`` folds (lists of item indices) that keep each woman's images together.

    Women are stratified by their number of images of each class (e.g. two normal, one of each, two
    abnormal), shuffled by ``seed`` within each stratum and dealt to the folds in turn (the turn carries on
    from one stratum to the next), so every fold holds about the same share of each class and of images.
    """
    if int(k) < 2:
        raise InvalidInputError(f"k must be at least 2 for a k-fold split, got {k}")
    k = int(k)
    by_patient: dict[str, list[int]] = {}
    for i, (im, _cls) in enumerate(items):
        by_patient.setdefault(im.patient, []).append(i)
    if len(by_patient) < k:
        raise InvalidInputError(f"{len(by_patient)} women cannot fill {k} folds; use fewer folds")
    classes = sorted({c for _im, c in items})
    strata: dict[tuple[int, ...], list[str]] = {}
    for p, idx in sorted(by_patient.items()):
        key = tuple(sum(items[i][1] == c for i in idx) for c in classes)
        strata.setdefault(key, []).append(p)
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    turn = 0
    for key in sorted(strata):
        women = list(strata[key])
        rng.shuffle(women)
        for p in women:
            folds[turn % k].extend(by_patient[p])
            turn += 1
    return [sorted(f) for f in folds]


def write_class_folders(items: Sequence[tuple[MiasImage, str]], out_dir: str | os.PathLike[str], *,
                        split: dict[str, str] | None = None) -> Path:
    """Lay ``items`` out as one folder per class (``out_dir/[split/]class/mdbNNN.png``), as links to the PNGs.

    Parameters
    ----------
    items
        ``(image, class)`` pairs (:func:`task_items`).
    out_dir
        A new or empty folder; never one that holds files (nothing is overwritten).
    split
        Image name -> ``"train"``, ``"val"`` or ``"test"``; the folders then sit under those names. Without it
        the class folders are at the top.

    Returns
    -------
    Path
        ``out_dir``.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise InvalidInputError(f"{out}: not empty; choose a new folder for the class folders")
    if split is not None:
        missing = [im.name for im, _c in items if im.name not in split]
        bad = sorted({s for s in split.values() if s not in ("train", "val", "test")})
        if missing or bad:
            raise InvalidInputError(f"split: {len(missing)} image(s) without a split (e.g. {missing[:3]}), "
                                    f"unknown split names {bad}; give every image train, val or test")
    for im, cls in items:
        folder = out / (split[im.name] if split is not None else "") / cls
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / im.path.name
        try:
            target.symlink_to(im.path.resolve())
        except OSError:  # a file system without links: a copy (never of the input onto itself)
            import shutil

            shutil.copyfile(im.path, target)
    return out


def cam_peak(cam: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of a 2-D activation map's maximum (the first one on ties)."""
    cam = np.asarray(cam)
    if cam.ndim != 2 or cam.size == 0:
        raise InvalidInputError(f"a class-activation map must be a 2-D array, got shape {cam.shape}")
    r, c = np.unravel_index(int(np.nanargmax(cam)), cam.shape)
    return int(r), int(c)


def _inside(row: float, col: float, circles: Iterable[tuple[float, float, float]]) -> bool:
    return any((row - r) ** 2 + (col - c) ** 2 <= rad ** 2 for r, c, rad in circles)


def _breast_mask(image: np.ndarray) -> np.ndarray:
    """The breast: pixels above Otsu's threshold, its largest connected part (film labels are left out)."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    img = np.asarray(image, dtype=np.float32)
    mask = img > threshold_otsu(img)
    lab, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, lab, index=range(1, n + 1))
        mask = lab == (1 + int(np.argmax(sizes)))
    return mask


@dataclass
class CamHits:
    """How often the activation maps' peaks fall inside an annotated lesion circle.

    Attributes
    ----------
    n_images : int
        Images with at least one circle (abnormal images without coordinates are left out).
    hits : int
        Images whose map peaks inside one of their circles.
    chance : float or None
        The rate expected of a peak put at random in the breast: the mean share of the breast (Otsu mask)
        that the circles cover. None when no image was given.
    per_image : list of dict
        ``name``, ``hit``, ``peak`` (row, column; None for an empty map), ``empty``, ``chance`` per image.
        A map that is zero everywhere (Grad-CAM found no positive evidence for the class) has no peak and
        counts as a miss.
    """

    n_images: int
    hits: int
    chance: float | None
    per_image: list[dict]

    @property
    def rate(self) -> float:
        return self.hits / self.n_images if self.n_images else float("nan")

    @property
    def n_empty(self) -> int:
        """Maps that are zero everywhere (no positive evidence for the class): no peak, counted as misses."""
        return sum(bool(r.get("empty")) for r in self.per_image)

    def to_json(self) -> dict:
        return {"n_images": self.n_images, "hits": self.hits, "rate": self.rate, "chance": self.chance,
                "n_empty": self.n_empty, "per_image": self.per_image}


def cam_hit_rate(results: Iterable[tuple[MiasImage, np.ndarray, np.ndarray | None]]) -> CamHits:
    """Score activation maps against the lesion circles.

    Parameters
    ----------
    results
        ``(image, cam, pixels)`` triples: the map on the image's pixel grid, and the image's pixels (for the
        chance rate; None to skip it). Images without a circle are skipped.
    """
    rows = []
    for im, cam, pixels in results:
        cam = np.asarray(cam)
        circles = im.circles(cam.shape)
        if not circles:
            continue
        empty = not bool(np.nanmax(cam) > 0)  # Grad-CAM found no positive evidence: there is no peak
        peak = cam_peak(cam)
        chance = None
        if pixels is not None:
            pixels = np.asarray(pixels)
            if pixels.shape[-2:] != cam.shape:
                raise InvalidInputError(f"{im.name}: image {pixels.shape} and map {cam.shape} differ in shape; "
                                        "give the map on the image's pixel grid")
            breast = _breast_mask(pixels)
            rr, cc = np.indices(cam.shape)
            in_circle = np.zeros(cam.shape, bool)
            for r, c, rad in circles:
                in_circle |= (rr - r) ** 2 + (cc - c) ** 2 <= rad ** 2
            chance = float((in_circle & breast).sum() / max(int(breast.sum()), 1))
        rows.append({"name": im.name, "hit": not empty and _inside(peak[0], peak[1], circles),
                     "peak": None if empty else list(peak), "empty": empty, "chance": chance})
    chances = [r["chance"] for r in rows if r["chance"] is not None]
    return CamHits(n_images=len(rows), hits=sum(r["hit"] for r in rows),
                   chance=float(np.mean(chances)) if chances and len(chances) == len(rows) else None, per_image=rows)
