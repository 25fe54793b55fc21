"""What a chosen classifier folder holds, in the widget's words (its contract only; no weights are loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import MedaiError
from .._widgets import error_text

#: Said while no folder is chosen.
NO_MODEL = ("No model chosen: choose a classifier folder with 'Model folder…' (train one with "
            "'napari-medai train classify' or the classification training widget). Nothing is shown without one.")
#: The refusal of a run without a usable model.
NO_MODEL_REFUSAL = "no classifier chosen: choose a trained model folder with 'Model folder…'"


@dataclass(frozen=True)
class ClassifierInfo:
    """A classifier folder as the widget shows it.

    Attributes
    ----------
    text : str
        One paragraph for the widget.
    usable : bool
        True when the folder holds a trained 2-D classifier (its probabilities may be shown).
    contract : Any
        The folder's :class:`~napari_medai.core.models.contract.ModelContract` when it is a 2-D classifier
        (trained or not), else None.
    """

    text: str
    usable: bool
    contract: Any = None

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.contract.output_channels) if self.contract is not None else ()


def describe_classifier_folder(folder: str) -> ClassifierInfo:
    """Say what ``folder`` holds: not given, not a model folder, not a 2-D classifier, untrained, or its summary.

    Parameters
    ----------
    folder : str
        The folder path as typed or chosen ('' when none).
    """
    folder = folder.strip()
    if not folder:
        return ClassifierInfo(NO_MODEL, False)
    from ...core.models.contract import ModelContract
    from ...core.models.persistence import read_model_json
    from ...core.tasks.classify.xrv import is_xrv_reference, xrv_reference_contract

    if is_xrv_reference(folder):  # torchxrayvision's published weights (xrv:NAME or the file)
        try:
            contract = xrv_reference_contract(folder)
        except (MedaiError, OSError) as exc:
            return ClassifierInfo(f"{folder}: {error_text(exc)}", False)
        return ClassifierInfo(contract.summary(), True, contract)
    try:
        contract = ModelContract.from_dict(read_model_json(Path(folder)).get("contract") or {})
    except (MedaiError, OSError, TypeError, ValueError, KeyError) as exc:
        return ClassifierInfo(f"{folder}: not a napari-medai model folder ({error_text(exc)})", False)
    if contract.kind != "classification" or int(contract.spatial_dims) != 2:
        what = contract.kind if contract.kind != "classification" else f"{contract.spatial_dims}-D classification"
        return ClassifierInfo(f"{contract.name} is a {what} model, not a 2-D image classifier: choose a folder "
                              "trained with 'napari-medai train classify'.", False)
    if not contract.is_trained:
        return ClassifierInfo(f"{contract.name}: NOT TRAINED (random weights). Its output would mean nothing, so no "
                              "probabilities or maps are shown; train it first.", False, contract)
    return ClassifierInfo(contract.summary(), True, contract)


__all__ = ["NO_MODEL", "NO_MODEL_REFUSAL", "ClassifierInfo", "describe_classifier_folder"]
