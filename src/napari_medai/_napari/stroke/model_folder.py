"""What a chosen stroke model folder holds, in the widget's words (its contract only; no weights are loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import MedaiError
from .._widgets import error_text

#: Said when the 'trained model' method has no folder.
NO_MODEL = ("No model chosen: choose a folder trained for stroke with 'Model folder…' (train one with "
            "'napari-medai train stroke' or the training widget).")
#: The refusal of a run without a folder.
NO_MODEL_REFUSAL = ("no stroke model chosen: choose a folder trained for stroke with 'Model folder…', or use the "
                    "clinical threshold baseline")


@dataclass(frozen=True)
class ModelFolderInfo:
    """A model folder as the widget shows it.

    Attributes
    ----------
    text : str
        One paragraph for the widget.
    error : bool
        True when the folder cannot be used, or holds random weights (shown in red).
    contract : Any
        The folder's :class:`~napari_medai.core.models.contract.ModelContract` when it is a stroke model, else None.
    """

    text: str
    error: bool
    contract: Any = None


def describe_model_folder(folder: str) -> ModelFolderInfo:
    """Say what ``folder`` holds: not given, not a model folder, not a stroke model, untrained, or its summary.

    Parameters
    ----------
    folder : str
        The folder path as typed or chosen ('' when none).

    Returns
    -------
    ModelFolderInfo
        The text, whether it is an error, and the contract of a usable stroke model.
    """
    folder = folder.strip()
    if not folder:
        return ModelFolderInfo(NO_MODEL, True)
    from ...core.models.contract import ModelContract
    from ...core.models.persistence import read_model_json

    try:
        contract = ModelContract.from_dict(read_model_json(Path(folder)).get("contract") or {})
    except (MedaiError, TypeError, ValueError, KeyError) as exc:
        return ModelFolderInfo(f"{folder}: not a napari-medai model folder ({error_text(exc)})", True)
    if "stroke" not in contract.task:
        return ModelFolderInfo(f"{contract.name} is a {contract.task} model, not a stroke model: choose a "
                               "folder trained with 'napari-medai train stroke'.", True)
    untrained = "" if contract.is_trained else "NOT TRAINED (random weights): its output is meaningless. "
    return ModelFolderInfo(untrained + contract.summary(), not contract.is_trained, contract)


__all__ = ["NO_MODEL", "NO_MODEL_REFUSAL", "ModelFolderInfo", "describe_model_folder"]
