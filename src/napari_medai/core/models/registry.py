"""Known models by name: pure data, importable without torch.

Each :class:`RegistryEntry` says what a model is (its :class:`ModelContract`) and where its weights
come from. :func:`napari_medai.core.models.load_model` turns a name into a runnable model.

================================ =================================================================
name                             what
================================ =================================================================
``brats_mri_segmentation``       MONAI model-zoo bundle (SegResNet, BraTS 2018, 4 MR sequences),
                                 downloaded on first use into the cache folder and checked by md5
``brain-tumour-default``         napari-medai's own brain-tumour model, trained on the project's
                                 phantoms by ``scripts/train_default_brain_model.py``; its weights
                                 ship in ``core/models/packaged/brain_tumour_default`` (4.7 MB)
================================ =================================================================
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .contract import ModelContract, NetworkSpec
from .errors import UnknownModelError

__all__ = [
    "BRATS_BUNDLE",
    "DEFAULT_BRAIN_MODEL",
    "REGISTRY",
    "RegistryEntry",
    "cache_dir",
    "get_entry",
    "list_models",
    "model_search_dirs",
]

EntryKind = Literal["monai-bundle", "packaged"]

#: Registry name of the MONAI model-zoo BraTS bundle.
BRATS_BUNDLE = "brats_mri_segmentation"
#: Registry name of napari-medai's own default brain-tumour model.
DEFAULT_BRAIN_MODEL = "brain-tumour-default"


@dataclass(frozen=True)
class RegistryEntry:
    """A named model.

    Parameters
    ----------
    name
        Registry name (what ``--model`` accepts).
    kind
        ``"monai-bundle"``: a MONAI model-zoo bundle fetched with ``monai.bundle.download``;
        ``"packaged"``: a napari-medai model folder (``model.json`` + ``model.pt``) looked up in
        :func:`model_search_dirs`.
    summary
        One line for listings.
    task
        The task the model serves (``"brain_tumour"``, ...; the contract's ``task``), so widgets
        and commands can offer a task's models before any weights are downloaded.
    contract
        What the model takes and gives, as published (for bundles the contract actually used is
        parsed from the downloaded configs and must agree with this one).
    bundle_name, bundle_version
        Model-zoo name and version (bundles only).
    md5
        ``{relative path: md5}`` of files that must match after download.
    folder
        Folder name of a packaged model.
    licence
        Licence of the weights.
    how_to_get
        What to do when the weights are not on this machine.
    """

    name: str
    kind: EntryKind
    summary: str
    task: str
    contract: ModelContract | None = None
    bundle_name: str | None = None
    bundle_version: str | None = None
    md5: Mapping[str, str] = field(default_factory=dict)
    folder: str | None = None
    licence: str = ""
    how_to_get: str = ""


_BRATS_CONTRACT = ModelContract(
    name=BRATS_BUNDLE,
    task="brain_tumour",
    channels=("t1c", "t1", "t2", "flair"),
    output_kind="sigmoid-regions",
    output_channels=("TC", "WT", "ET"),
    label_convention="brats2021",
    label_names={1: "NCR/NET", 2: "ED", 4: "ET"},
    network=NetworkSpec(
        "SegResNet",
        {"blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1], "init_filters": 16, "in_channels": 4,
         "out_channels": 3, "dropout_prob": 0.2},
    ),
    roi_size=(240, 240, 160),
    target_spacing=(1.0, 1.0, 1.0),
    orientation="storage",
    normalization="zscore-nonzero",
    threshold=0.5,
    label_rules=(("ET", 4), ("TC", 1), ("WT", 2)),
    overlap=0.5,
    blend_mode="constant",
    trained_on="BraTS 2018 training data (MONAI model zoo; published validation Dice TC 0.856, WT 0.903, ET 0.791)",
    is_trained=True,
    description="MONAI model-zoo bundle brats_mri_segmentation: SegResNet on T1c, T1, T2, FLAIR",
)

#: Every known model, by name.
REGISTRY: dict[str, RegistryEntry] = {
    BRATS_BUNDLE: RegistryEntry(
        name=BRATS_BUNDLE,
        kind="monai-bundle",
        summary="MONAI zoo SegResNet for glioma (T1c, T1, T2, FLAIR -> BraTS 2021 labels), BraTS 2018 weights",
        task="brain_tumour",
        contract=_BRATS_CONTRACT,
        bundle_name=BRATS_BUNDLE,
        bundle_version="0.5.2",
        md5={"models/model.pt": "870e677b782a5184cbc48db1456b78e8"},
        licence="Apache-2.0 code; weights trained on BraTS 2018 (see the bundle's docs/data_license.txt)",
        how_to_get=(
            "it is downloaded on first use with internet access; offline, download it elsewhere with "
            "python -c \"import monai; monai.bundle.download(name='brats_mri_segmentation', bundle_dir='DIR')\" "
            "and give the folder DIR/brats_mri_segmentation (or a zip of it) as the model"
        ),
    ),
    DEFAULT_BRAIN_MODEL: RegistryEntry(
        name=DEFAULT_BRAIN_MODEL,
        kind="packaged",
        summary="napari-medai SegResNet for brain tumours trained on the project's synthetic phantoms "
                "(FLAIR, T1, T1c, T2 -> BraTS 2021 labels); a demo model, not for real scans",
        task="brain_tumour",
        folder="brain_tumour_default",
        licence="BSD-3-Clause",
        how_to_get=(
            "its weights ship inside the package (core/models/packaged/brain_tumour_default); if they are "
            "missing (e.g. a source tree without them), retrain them with "
            "'python scripts/train_default_brain_model.py' (writes to the cache folder), or train on "
            "your own cases with 'napari-medai train brain-tumour --data DIR --out MODEL_DIR' and pass MODEL_DIR"
        ),
    ),
}


def list_models() -> list[str]:
    """Names of the registry models, sorted."""
    return sorted(REGISTRY)


def get_entry(name: str) -> RegistryEntry:
    """The registry entry called ``name``.

    Raises
    ------
    UnknownModelError
        Naming the valid model names (and the closest one when it looks like a typo).
    """
    if name in REGISTRY:
        return REGISTRY[name]
    close = difflib.get_close_matches(str(name), list(REGISTRY), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}{hint} Known models: {', '.join(list_models())}; "
        "or give the path of a model folder (model.json + model.pt), a MONAI bundle folder or zip, "
        "or a TorchScript file"
    )


def cache_dir() -> Path:
    """napari-medai's cache folder: ``$NAPARI_MEDAI_CACHE`` or ``~/.cache/napari-medai``."""
    env = os.environ.get("NAPARI_MEDAI_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "napari-medai"


def model_search_dirs() -> list[Path]:
    """Folders searched for packaged models, in order.

    ``$NAPARI_MEDAI_MODELS`` (``os.pathsep``-separated), ``<cache>/models``, then the
    ``packaged`` folder inside this package.
    """
    out: list[Path] = []
    env = os.environ.get("NAPARI_MEDAI_MODELS")
    if env:
        out.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    out.append(cache_dir() / "models")
    out.append(Path(__file__).resolve().parent / "packaged")
    return out
