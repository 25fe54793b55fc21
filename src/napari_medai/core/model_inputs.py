"""What a chosen model needs from the open images, found by name only (no GUI, no torch).

* :func:`declared_contract` -- the contract a registry model declares, read without loading its weights,
  so a widget can ask for the model's channels at once.
* :func:`assign_channels` -- which named image feeds which model channel. A channel is filled only by an
  image whose name says it is that MR sequence (:func:`~napari_medai.core.models.guess_channel`), never by
  "the first image"; a choice already made is kept while its image is still there.
* :func:`check_channels` -- what stops a run: channels without an image, and one image fed to several
  channels (the error that made every channel read ``flair`` unnoticed).
* :func:`pick_ground_truth` -- the label map that looks like ground truth, by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import MedaiError
from .models.contract import ModelContract, canonical_channel, guess_channel
from .models.registry import REGISTRY, model_search_dirs

__all__ = [
    "GROUND_TRUTH_HINTS",
    "ChannelCheck",
    "assign_channels",
    "channel_label",
    "check_channels",
    "declared_contract",
    "pick_ground_truth",
]

#: Parts of a label-map name that mark ground truth, most specific first (masks never are).
GROUND_TRUTH_HINTS = ("ground truth", "ground_truth", "groundtruth", "otmulticlass", "gt", "seg", "label",
                      "reference", "truth", "manual")

_LABELS = {"t1c": "T1c", "t1": "T1", "t2": "T2", "flair": "FLAIR", "dwi": "DWI", "adc": "ADC"}


def channel_label(channel: str) -> str:
    """How a channel is written for a reader: ``"t1c"`` -> ``"T1c"``, ``"flair"`` -> ``"FLAIR"``."""
    return _LABELS.get(channel, channel.upper() if len(channel) <= 5 else channel)


def declared_contract(name: str) -> ModelContract | None:
    """The contract a registry model declares, without loading weights (None: unknown until it is loaded).

    Bundles declare theirs in the registry; a packaged model in the ``model.json`` of its folder.
    """
    entry = REGISTRY.get(name)
    if entry is None:
        return None
    if entry.contract is not None:
        return entry.contract
    from .models.persistence import read_model_json

    for d in model_search_dirs():
        folder = d / (entry.folder or entry.name)
        if (folder / "model.json").is_file():
            try:
                doc = read_model_json(folder)
                return ModelContract.from_dict(doc.get("contract") or {})
            except MedaiError:
                return None  # loading the model says what is wrong with its folder
    return None


def assign_channels(channels: Sequence[str], names: Sequence[str], *,
                    keep: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
    """Which of the ``names`` (open images) feeds each of the model's ``channels``.

    A channel keeps its image from ``keep`` while that name is still open (the user's choice stands,
    even when it does not look like the channel). Otherwise it gets the first image whose name says it
    is that sequence (``"BraTS-GLI-00001-000-t2f"`` -> FLAIR) and that no other channel uses yet, or
    ``None``: a channel is never filled with an image that is not named like it.

    Examples
    --------
    >>> assign_channels(["t1c", "t1", "t2", "flair"], ["flair"])
    {'t1c': None, 't1': None, 't2': None, 'flair': 'flair'}
    """
    open_names = list(names)
    keep = keep or {}
    out: dict[str, str | None] = {}
    for ch in channels:
        chosen = keep.get(ch)
        out[ch] = chosen if chosen in open_names else None
    taken = {n for n in out.values() if n is not None}
    for ch in channels:
        if out[ch] is not None:
            continue
        want = canonical_channel(ch)
        match = next((n for n in open_names if n not in taken and guess_channel(n) == want), None)
        if match is not None:
            out[ch] = match
            taken.add(match)
    return out


@dataclass(frozen=True)
class ChannelCheck:
    """What stops a run with an assignment of images to channels.

    Attributes
    ----------
    missing
        Channels without an image.
    shared
        ``{image name: [channels]}`` for each image fed to more than one channel.
    """

    missing: list[str] = field(default_factory=list)
    shared: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.shared

    def message(self) -> str:
        """One line saying what to fix ('' when nothing)."""
        parts = [f"{' and '.join(channel_label(c) for c in chs)} all use '{name}': each channel needs its own image"
                 for name, chs in self.shared.items()]
        if self.missing:
            parts.append("choose a layer for " + ", ".join(channel_label(c) for c in self.missing))
        return "; ".join(parts)


def check_channels(assignment: Mapping[str, str | None]) -> ChannelCheck:
    """Channels left empty and images used twice in ``assignment`` (``{channel: image name or None}``)."""
    users: dict[str, list[str]] = {}
    for ch, name in assignment.items():
        if name is not None:
            users.setdefault(name, []).append(ch)
    return ChannelCheck(missing=[ch for ch, n in assignment.items() if n is None],
                        shared={n: chs for n, chs in users.items() if len(chs) > 1})


def pick_ground_truth(names: Iterable[str]) -> str | None:
    """The name among ``names`` (label maps) that looks most like ground truth, or None.

    Masks (``brainmask``, ``brain mask``) never count; among several, the most specific hint wins
    (:data:`GROUND_TRUTH_HINTS`), then the first name.
    """
    candidates = [n for n in names if "mask" not in n.lower()]
    for hint in GROUND_TRUTH_HINTS:
        for n in candidates:
            if hint in n.lower():
                return n
    return None
