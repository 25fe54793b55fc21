"""torchxrayvision's published chest X-ray DenseNets, read safely and run as napari-medai classifiers.

torchxrayvision (Cohen et al., MIDL 2022) publishes DenseNet-121 weights trained on public chest X-ray
sets (:data:`XRV_WEIGHTS`); it stores them in ``~/.torchxrayvision/models_data/`` (its
``utils.get_cache_dir()``; torchxrayvision itself has no setting to move that folder, napari-medai reads
``$NAPARI_MEDAI_XRV_CACHE`` first when set). Those files are *whole pickled models*
(``torch.save(model)``), which ``torch.load(weights_only=True)`` refuses. :func:`read_xrv_file` reads them

* with ``torch.load(path, weights_only=True)`` all the same, inside
  ``torch.serialization.safe_globals`` where each class the pickle may name
  (:data:`ALLOWED_CLASSES`: torchxrayvision's and torchvision's DenseNet parts, the ``torch.nn`` layers a
  DenseNet holds) is mapped -- with torch's ``(object, "module.Name")`` form -- onto a stand-in class
  of ours that only keeps the pickled ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ...);
  no class of the file is imported and no code of the file runs, so torchxrayvision need not be
  installed; anything else a file names (``os.system``, another class) is refused with a one-line error.
  A file in torch's legacy format (torch < 1.6; torchxrayvision patches a torch 1.6 attribute into its
  published models when it loads them, so they are most likely such files) names every module
  class through a ``("module", class, source)`` persistent id, which torch's weights-only reader refuses
  whatever is allowed; such a file is read by ``torch.load`` with a restricted unpickler
  (:class:`_RestrictedUnpickler`: Python's "restricting globals" recipe) that looks every global up in the
  same allow-list plus torch's tensor rebuilders, so nothing else can be named, built or called either;
* then walks the stand-ins into a plain ``state_dict`` (torchvision key names), checks every tensor by
  name and shape against MONAI's ``DenseNet121`` (after
  :func:`~napari_medai.core.tasks.classify.networks.map_torchvision_densenet`), and reads the output
  names from the model's ``pathologies`` / ``targets`` when the pickle has them, else from
  :data:`XRV_WEIGHTS` for a published file name, else torchxrayvision's 18 default outputs.

:func:`load_xrv_classifier` turns such a file (or ``xrv:<name>`` of a file in the cache) into a
:class:`~napari_medai.core.models.LoadedModel`: the findings of
:data:`~napari_medai.core.tasks.classify.networks.CHEXNEXT_LABELS` that the weights predict, picked from
the head by name, sigmoid outputs, torchxrayvision's published operating points as decision thresholds
(the raw sigmoid probability is shown; ``p >= threshold`` is what torchxrayvision's ``op_norm`` maps to
0.5), 224 px, one channel. Its input contract: the image is resized to 224 x 224 (the whole image: not
torchxrayvision's centre crop), and the network (:func:`xrv_densenet121`) maps the raw pixel values onto
torchxrayvision's [-1024, 1024]: ``(2 x / maxval - 1) * 1024`` with ``maxval = 2**k - 1`` for the smallest
``k`` of 8, 10, 12, 14, 16 that holds the image's maximum (255 for 8-bit pictures and ``2**BitsStored - 1``
for most DICOM radiographs, as torchxrayvision's ``normalize`` does); an image with negative values or
values above 65535 is mapped from its own minimum and maximum.

:func:`download_xrv_weights` fetches a published file into the cache, atomically, only when called
(``napari-medai classify xrv --download NAME``); :func:`find_xrv_weights` lists the published files
present. Transfer learning (``train classify --init-from``) reads the same files through
:func:`read_xrv_file`; the new model z-scores its images, so :func:`zscore_input_adapter` rescales the
first convolution (and the first batch-norm mean) from the training images' average intensity statistics.
"""

from __future__ import annotations

import functools
import os
import pickle
import re
import types
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...callbacks import ProgressFn
from ...errors import InvalidInputError
from ...models.errors import ModelDownloadError, ModelLoadError
from .networks import (
    CHEXNEXT_LABELS,
    XRV_LABELS,
    classify_contract,
    map_torchvision_densenet,
    xrv_head_to_chexnext,
)

__all__ = [
    "ALLOWED_CALLS",
    "ALLOWED_CLASSES",
    "BIT_MAXIMA",
    "XRV_CACHE_ENV",
    "XRV_INPUT_SIZE",
    "XRV_PREFIX",
    "XRV_WEIGHTS",
    "PickledObject",
    "XrvFile",
    "XrvWeights",
    "download_xrv_weights",
    "find_xrv_weights",
    "is_xrv_reference",
    "load_xrv_classifier",
    "read_xrv_file",
    "resolve_xrv_reference",
    "to_xrv_range",
    "xrv_cache_dir",
    "xrv_contract",
    "xrv_densenet121",
    "xrv_reference_contract",
    "zscore_input_adapter",
]

#: Environment variable naming the folder of torchxrayvision weights (default: torchxrayvision's own).
XRV_CACHE_ENV = "NAPARI_MEDAI_XRV_CACHE"
#: ``--model xrv:<name>`` names a published weights file in the cache.
XRV_PREFIX = "xrv:"
#: torchxrayvision's DenseNets see 224 x 224 pixels.
XRV_INPUT_SIZE = 224
_RELEASE = "https://github.com/mlmed/torchxrayvision/releases/download/v1/"
_STEM = "-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt"


@dataclass(frozen=True)
class XrvWeights:
    """One of torchxrayvision's published DenseNet-121 weight files.

    Attributes
    ----------
    name
        torchxrayvision's weights name (``xrv.models.DenseNet(weights=name)``).
    datasets
        The training sets, as the file name gives them (``nih-pc-chex-...``).
    trained
        The outputs these weights were trained for (the others of the 18 are untrained).
    op_threshs
        torchxrayvision's published operating point of each trained output (sigmoid probability).
    """

    name: str
    datasets: str
    trained: tuple[str, ...]
    op_threshs: Mapping[str, float] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.datasets}{_STEM}"

    @property
    def url(self) -> str:
        return _RELEASE + self.filename

    @property
    def labels(self) -> tuple[str, ...]:
        """The 18 output names in order, '' for an output these weights were not trained for."""
        return tuple(n if n in self.trained else "" for n in XRV_LABELS)


def _weights(name: str, datasets: str, thresholds: Sequence[float | None]) -> XrvWeights:
    th = {n: float(t) for n, t in zip(XRV_LABELS, thresholds) if t is not None}
    return XrvWeights(name, datasets, tuple(th), th)


_N = None
#: torchxrayvision's published DenseNet-121 weights (224 px), with the operating points it publishes.
XRV_WEIGHTS: dict[str, XrvWeights] = {w.name: w for w in (
    _weights("densenet121-res224-all", "nih-pc-chex-mimic_ch-google-openi-kaggle", (
        0.07422872, 0.038290843, 0.09814756, 0.0098118475, 0.023601074, 0.0022490358, 0.010060724, 0.103246614,
        0.056810737, 0.026791653, 0.050318155, 0.023985857, 0.01939503, 0.042889766, 0.053369623, 0.035975814,
        0.20204692, 0.05015312)),
    _weights("densenet121-res224-nih", "nih", (
        0.039117552, 0.0034529066, 0.11396341, 0.0057298196, 0.00045666535, 0.0018880932, 0.012037827, 0.038744126,
        0.0037213727, 0.014730946, 0.016149804, 0.054241467, 0.037198864, 0.0004403434, _N, _N, _N, _N)),
    _weights("densenet121-res224-pc", "pc", (
        0.031012505, 0.013347598, 0.081435576, 0.001262615, 0.002587246, 0.0035944257, 0.0023071, 0.055412333,
        0.044385884, 0.042766232, 0.043258056, 0.037629247, 0.005658899, 0.0091741895, _N, 0.026507627, _N, _N)),
    _weights("densenet121-res224-chex", "chex", (
        0.1988969, 0.05710573, _N, 0.0531293, 0.1435217, _N, _N, 0.27212676, 0.07749717, _N, 0.19712369, _N, _N, _N,
        0.09932402, 0.09273402, 0.3270967, 0.10888247)),
    _weights("densenet121-res224-rsna", "kaggle", (
        _N, _N, _N, _N, _N, _N, _N, _N, 0.13486601, _N, _N, _N, _N, _N, _N, _N, 0.13511065, _N)),
    _weights("densenet121-res224-mimic_nb", "mimic_nb", (
        0.08558747, 0.011884617, _N, 0.0040595434, 0.010733786, _N, _N, 0.118761964, 0.022924708, _N, 0.06358637, _N,
        _N, _N, 0.022143636, 0.017476924, 0.1258702, 0.014020768)),
    _weights("densenet121-res224-mimic_ch", "mimic_ch", (
        0.09121389, 0.010573786, _N, 0.005023008, 0.003698257, _N, _N, 0.08001232, 0.037242252, _N, 0.05006329, _N,
        _N, _N, 0.019866971, 0.03823637, 0.11303808, 0.0069147074)),
)}
_BY_FILENAME = {w.filename: w for w in XRV_WEIGHTS.values()}


# ---------------------------------------------------------------------------------------------
# where the files are
# ---------------------------------------------------------------------------------------------
def xrv_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of torchxrayvision weights: ``cache_dir``, else ``$NAPARI_MEDAI_XRV_CACHE``, else
    torchxrayvision's ``~/.torchxrayvision/models_data``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(XRV_CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path("~/.torchxrayvision/models_data").expanduser()


def find_xrv_weights(cache_dir: str | os.PathLike[str] | None = None) -> list[tuple[XrvWeights, Path]]:
    """The published weights files present in the cache folder, in :data:`XRV_WEIGHTS` order."""
    folder = xrv_cache_dir(cache_dir)
    return [(w, folder / w.filename) for w in XRV_WEIGHTS.values() if (folder / w.filename).is_file()]


def is_xrv_reference(ref: Any) -> bool:
    """Whether ``ref`` names torchxrayvision weights: ``xrv:<name>``, a published name that is not a path on
    disk, or a ``.pt`` / ``.pth`` file with no ``model.json`` beside it that is not TorchScript."""
    if not isinstance(ref, (str, os.PathLike)):
        return False
    s = os.fspath(ref)
    if s.startswith(XRV_PREFIX):
        return True
    p = Path(s).expanduser()
    if not p.exists():
        return s in XRV_WEIGHTS
    if not p.is_file() or p.suffix.lower() not in (".pt", ".pth") or (p.parent / "model.json").is_file():
        return False
    if p.parent.name == "models" and (p.parent.parent / "configs").is_dir():
        return False  # a MONAI bundle's weights
    from ...models.weights import is_torchscript_file

    return not is_torchscript_file(p)


def resolve_xrv_reference(ref: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The weights file of ``xrv:<name>`` / ``<name>`` (in the cache folder) or of a file path.

    Raises
    ------
    InvalidInputError
        An unknown name, or a published file not in the cache (the message says how to fetch it).
    """
    s = os.fspath(ref)
    name = s[len(XRV_PREFIX):] if s.startswith(XRV_PREFIX) else s
    p = Path(name).expanduser()
    if p.is_file():
        return p
    w = XRV_WEIGHTS.get(name) or _BY_FILENAME.get(name)
    if w is None:
        raise InvalidInputError(f"{s}: neither a torchxrayvision weights file nor a published name; names: "
                                f"{', '.join(XRV_WEIGHTS)}")
    path = xrv_cache_dir(cache_dir) / w.filename
    if not path.is_file():
        raise InvalidInputError(f"{w.name}: {path} is not on this machine; fetch it with 'napari-medai classify xrv "
                                f"--download {w.name}' (needs internet) or copy the file there")
    return path


# ---------------------------------------------------------------------------------------------
# reading a pickled whole model without running it
# ---------------------------------------------------------------------------------------------
_DENSENET_PARTS = ("DenseNet", "_DenseBlock", "_DenseLayer", "_Transition")
#: Every class a weights file may name; each is read as a stand-in that only keeps the pickled state.
ALLOWED_CLASSES: tuple[str, ...] = (
    *(f"torchxrayvision.models.{c}" for c in _DENSENET_PARTS),
    *(f"torchvision.models.densenet.{c}" for c in _DENSENET_PARTS),
    "torch.nn.modules.conv.Conv2d", "torch.nn.modules.batchnorm.BatchNorm2d", "torch.nn.modules.activation.ReLU",
    "torch.nn.modules.pooling.MaxPool2d", "torch.nn.modules.pooling.AvgPool2d",
    "torch.nn.modules.pooling.AdaptiveAvgPool2d", "torch.nn.modules.linear.Linear",
    "torch.nn.modules.container.Sequential", "torch.nn.modules.container.ModuleDict",
    "torch.nn.modules.upsampling.Upsample", "torch.nn.modules.dropout.Dropout",
)
#: Functions old (torch < 1.2) module pickles call while unpickling; read as a function that returns None.
ALLOWED_CALLS: tuple[str, ...] = ("torch.nn.backends.thnn._get_thnn_function_backend",)


class PickledObject:
    """Stand-in for a class a weights file names: it keeps the pickled ``__dict__`` and runs nothing."""

    pickled_name = ""
    #: torch's legacy reader asks a module class whether to write a source patch file: never.
    dump_patches = False

    def __new__(cls, *args: Any) -> PickledObject:
        if args:
            raise pickle.UnpicklingError(f"{cls.pickled_name} is built with arguments; only modules are read")
        return super().__new__(cls)

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:
            state = state[0] or {}
        if not isinstance(state, Mapping):
            raise pickle.UnpicklingError(f"{self.pickled_name}: its pickled state is not a dict")
        self.state = dict(state)


def _nothing(*_args: Any) -> None:
    """Stands in for a function an old pickle calls (torch's THNN backend): returns None."""
    return None


_STAND_INS: dict[str, type] = {
    name: type(f"Pickled_{name.rsplit('.', 1)[1]}", (PickledObject,), {"pickled_name": name})
    for name in ALLOWED_CLASSES
}
_SAFE: list[tuple[Any, str]] = [(cls, name) for name, cls in _STAND_INS.items()] + [(_nothing, n) for n in ALLOWED_CALLS]


class _RestrictedUnpickler(pickle.Unpickler):
    """The standard unpickler with every global looked up in :func:`_legacy_globals` only (Python's own
    "restricting globals" recipe): nothing outside the list can be named, built or called."""

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        obj = _legacy_globals().get(full)
        if obj is None:
            raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {full} is not on napari-medai's list")
        return obj


def _restricted_load(f: Any, **kwargs: Any) -> Any:
    return _RestrictedUnpickler(f, **kwargs).load()


#: What ``torch.load`` needs of a ``pickle_module``: the restricted unpickler (legacy files only).
_RESTRICTED_PICKLE = types.SimpleNamespace(Unpickler=_RestrictedUnpickler, load=_restricted_load,
                                           __name__="napari_medai_restricted_pickle")


@functools.lru_cache(maxsize=1)
def _legacy_globals() -> dict[str, Any]:
    """The globals a legacy (torch < 1.6) file may name: the stand-ins, and the containers and tensor
    rebuilders that torch's own weights-only unpickler allows by default."""
    import torch

    out: dict[str, Any] = {name: obj for obj, name in _SAFE}
    # protocol-2 pickles name Python 2's modules (``__builtin__``), which a custom find_class sees unmapped
    out.update({"collections.OrderedDict": OrderedDict, "builtins.set": set, "__builtin__.set": set,
                "torch.Size": torch.Size})
    for f in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state"):
        out[f"torch._utils.{f}"] = getattr(torch._utils, f)
    return out


def _torch_load_with_stand_ins(path: Path) -> Any:
    """``torch.load`` of a weights file with the stand-ins allowed (see the module docstring).

    A zip file (torch >= 1.6) is read with ``weights_only=True`` inside ``safe_globals``. torch's
    weights-only reader refuses every legacy (torch < 1.6) pickled model, because such a file names each
    module class through a ``("module", class, source)`` persistent id that it does not accept; those files
    are read by ``torch.load`` with :class:`_RestrictedUnpickler` as its pickle module, which looks every
    global up in the same allow-list (no other class or function can be reached).
    """
    import warnings
    import zipfile

    import torch

    try:
        if zipfile.is_zipfile(path):
            with torch.serialization.safe_globals(_SAFE):
                return torch.load(str(path), map_location="cpu", weights_only=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "source code of class ... has changed": the stand-ins' source
            return torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=_RESTRICTED_PICKLE)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        m = re.search(r"GLOBAL (\S+)", text) or re.search(r"unrecognized function (\S+)", text)
        what = (f"names {m.group(1)}, which" if m else
                f"holds something that ({text.strip().splitlines()[-1][:160] if text.strip() else 'unreadable'})")
        raise ModelLoadError(
            f"{path}: {what} napari-medai does not load: only plain state_dicts and torchxrayvision / torchvision "
            "DenseNets are read (nothing in the file is run)") from exc
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError, KeyError) as exc:
        raise ModelLoadError(f"{path}: not a PyTorch weights file that loads safely "
                             f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from exc


def _walk(obj: PickledObject, prefix: str, out: dict[str, Any], path: Path) -> None:
    import torch

    st = obj.state
    skip = set(st.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        items = st.get(group) or {}
        if not isinstance(items, Mapping):
            raise ModelLoadError(f"{path}: {obj.pickled_name} has a {group} that is not a dict")
        for k, v in items.items():
            if v is None or (group == "_buffers" and k in skip):
                continue
            if not isinstance(v, torch.Tensor):
                raise ModelLoadError(f"{path}: {prefix}{k} is a {type(v).__name__}, not a tensor")
            out[prefix + str(k)] = v.detach().clone() if isinstance(v, torch.nn.Parameter) else v
    for k, child in (st.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PickledObject):
            raise ModelLoadError(f"{path}: sub-module {prefix}{k} is a {type(child).__name__}, not a module")
        _walk(child, f"{prefix}{k}.", out, path)


@dataclass
class XrvFile:
    """What :func:`read_xrv_file` found.

    Attributes
    ----------
    state
        The plain ``state_dict`` in torchvision / torchxrayvision key names (``features.*``, ``classifier.*``).
    labels
        One name per output ('' for an untrained output).
    op_threshs
        ``{label: operating point}`` (published, or the model's ``op_threshs`` buffer); may be empty.
    kind
        ``"pickled model (<class>)"`` or ``"state_dict"``.
    weights
        The published weights the file is (by file name), or None.
    notes
        Things to know (where the labels came from, ...).
    """

    path: Path
    state: dict[str, Any]
    labels: tuple[str, ...]
    op_threshs: dict[str, float]
    kind: str
    weights: XrvWeights | None = None
    notes: list[str] = field(default_factory=list)


def _labels_of(root_state: Mapping[str, Any]) -> tuple[str, ...] | None:
    for attr in ("targets", "pathologies"):
        v = root_state.get(attr)
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, str) for x in v):
            return tuple(v)
    return None


@functools.lru_cache(maxsize=4)
def _densenet121_reference(n_out: int) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of MONAI's one-channel 2-D DenseNet121 (built on the meta device: shapes only)."""
    import torch
    from monai.networks.nets import DenseNet121

    with torch.device("meta"):
        net = DenseNet121(spatial_dims=2, in_channels=1, out_channels=n_out)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def read_xrv_file(path: str | os.PathLike[str]) -> XrvFile:
    """Read torchxrayvision DenseNet-121 weights safely (see the module docstring).

    Raises
    ------
    ModelLoadError
        The file names a class or function outside :data:`ALLOWED_CLASSES`, is no DenseNet-121 of one grey
        channel, or its output names do not match its head.
    """
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise InvalidInputError(f"{p}: does not exist (give a torchxrayvision weights file or xrv:<name>)")
    obj = _torch_load_with_stand_ins(p)
    notes: list[str] = []
    labels = None
    if isinstance(obj, PickledObject):
        if not obj.pickled_name.endswith(".DenseNet"):
            raise ModelLoadError(f"{p}: holds a pickled {obj.pickled_name}, not a DenseNet")
        state: dict[str, Any] = {}
        try:
            _walk(obj, "", state, p)
        except (RecursionError, TypeError, AttributeError) as exc:  # a cycle, or state of the wrong kinds
            raise ModelLoadError(f"{p}: its modules do not form a network ({type(exc).__name__})") from exc
        kind = f"pickled model ({obj.pickled_name})"
        labels = _labels_of(obj.state)
        if labels is not None:
            notes.append("output names read from the model's own list")
    else:
        from ...models.persistence import unwrap_state_dict

        state = unwrap_state_dict(obj, p)
        kind = "state_dict"
    published = _BY_FILENAME.get(p.name)
    op = dict(published.op_threshs) if published is not None else {}
    thr = state.pop("op_threshs", None)
    state.pop("upsample", None)
    head = state.get("classifier.weight")
    if head is None or head.ndim != 2:
        raise ModelLoadError(f"{p}: has no DenseNet classifier layer (classifier.weight); not a torchxrayvision "
                             "DenseNet")
    n_out = int(head.shape[0])
    if labels is None and published is not None:
        labels = published.labels
        notes.append(f"output names of torchxrayvision's published {published.name}")
    if labels is None and n_out == len(XRV_LABELS):
        labels = XRV_LABELS
        notes.append("output names assumed to be torchxrayvision's 18 defaults (the file does not list them)")
    if labels is None or len(labels) != n_out:
        raise ModelLoadError(f"{p}: has {n_out} outputs but {'no output names' if labels is None else len(labels)} "
                             f"{'' if labels is None else 'output names'}; napari-medai maps torchxrayvision outputs "
                             "by name")
    if not op and isinstance(thr, torch.Tensor) and thr.numel() == n_out:
        op = {n: float(t) for n, t in zip(labels, thr.tolist()) if n and t == t and 0.0 < t < 1.0}
    # torch < 0.4.1 saved no num_batches_tracked: it only counts steps, 0 changes nothing in eval mode
    for k in [k for k in state if k.endswith(".running_mean")]:
        state.setdefault(k[: -len("running_mean")] + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
    mapped = map_torchvision_densenet(state)
    ref = _densenet121_reference(n_out)
    missing = [k for k in ref if k not in mapped]
    wrong = [k for k in ref if k in mapped and tuple(mapped[k].shape) != ref[k]]
    extra = [k for k in mapped if k not in ref]
    if missing or wrong or extra:
        bad = (missing + wrong + extra)[:3]
        raise ModelLoadError(
            f"{p}: is not a one-channel DenseNet-121 ({len(missing)} tensor(s) missing, {len(wrong)} of another shape, "
            f"{len(extra)} unknown, e.g. {', '.join(bad)}); napari-medai reads torchxrayvision's DenseNet-121 weights")
    return XrvFile(path=p, state=state, labels=tuple(labels), op_threshs=op, kind=kind, weights=published, notes=notes)


# ---------------------------------------------------------------------------------------------
# running it
# ---------------------------------------------------------------------------------------------
#: Largest pixel value of 8-, 10-, 12-, 14- and 16-bit images.
BIT_MAXIMA: tuple[float, ...] = (255.0, 1023.0, 4095.0, 16383.0, 65535.0)


def to_xrv_range(x: Any) -> Any:
    """Raw pixel values ``(N, 1, H, W)`` -> torchxrayvision's [-1024, 1024] (see the module docstring)."""
    import torch

    flat = x.detach().flatten(1)
    lo, hi = flat.amin(dim=1), flat.amax(dim=1)
    maxima = torch.tensor(BIT_MAXIMA, dtype=x.dtype, device=x.device)
    idx = torch.searchsorted(maxima, hi.contiguous()).clamp(max=len(BIT_MAXIMA) - 1)
    maxval = maxima[idx]
    shape = (-1,) + (1,) * (x.ndim - 1)
    by_depth = (2.0 * x / maxval.view(shape) - 1.0) * 1024.0
    span = (hi - lo).clamp_min(1e-6).view(shape)
    by_range = (2.0 * (x - lo.view(shape)) / span - 1.0) * 1024.0
    own = ((lo < 0) | (hi > BIT_MAXIMA[-1])).view(shape)
    return torch.where(own, by_range, by_depth)


def _bit_maximum(hi: float) -> float:
    return next((m for m in BIT_MAXIMA if hi <= m), BIT_MAXIMA[-1])


def zscore_input_adapter(state: Mapping[str, Any], images: Sequence[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """torchxrayvision DenseNet weights (MONAI keys) made to see z-scored images as they saw their own scale.

    A napari-medai classifier z-scores each image (``z = (x - m) / s``); torchxrayvision's first
    convolution saw ``t = 2048 x / M - 1024`` (``M`` as in :func:`to_xrv_range`), i.e. ``t = a z + c`` with
    ``a = 2048 s / M`` and ``c = 2048 m / M - 1024``. With ``a`` and ``c`` averaged over ``images`` (raw
    training images), ``features.conv0.weight`` is multiplied by ``a`` and ``c`` times each filter's sum is
    taken from ``features.norm0.running_mean``: the first block's output is then unchanged for an image of
    the average ``a`` and ``c`` (away from the border, where the zero padding differs), so the frozen
    batch-norm statistics of a head-only fine-tuning, and the start of a full one, fit the new inputs.

    Returns
    -------
    (state, note)
        The adapted copy and ``{"gain": a, "offset": c, "n_images": n}``.
    """
    import numpy as np
    import torch

    gains, offsets = [], []
    for img in images:
        x = np.asarray(img, dtype=np.float64)
        lo, hi = float(x.min()), float(x.max())
        if not np.isfinite([lo, hi]).all() or hi <= lo:
            continue
        if lo < 0 or hi > BIT_MAXIMA[-1]:  # scaled from its own range (to_xrv_range)
            gains.append(2048.0 * x.std() / (hi - lo))
            offsets.append(2048.0 * (x.mean() - lo) / (hi - lo) - 1024.0)
        else:
            m = _bit_maximum(hi)
            gains.append(2048.0 * x.std() / m)
            offsets.append(2048.0 * x.mean() / m - 1024.0)
    if not gains:
        raise InvalidInputError("no training image with varying pixel values to adapt torchxrayvision's first layer to")
    a, c = float(np.mean(gains)), float(np.mean(offsets))
    out = dict(state)
    w = out["features.conv0.weight"]
    out["features.conv0.weight"] = w * a
    out["features.norm0.running_mean"] = out["features.norm0.running_mean"] - c * w.sum(dim=(1, 2, 3)).to(torch.float32)
    return out, {"gain": round(a, 4), "offset": round(c, 4), "n_images": len(gains)}


@functools.lru_cache(maxsize=1)
def _xrv_network_class() -> type:
    from monai.networks.nets import DenseNet121

    class XrvDenseNet121(DenseNet121):
        """MONAI ``DenseNet121`` (same layer names and state_dict) that first maps raw pixel values onto
        torchxrayvision's [-1024, 1024] (:func:`to_xrv_range`)."""

        def forward(self, x: Any) -> Any:
            return super().forward(to_xrv_range(x))

    return XrvDenseNet121


def xrv_densenet121(out_channels: int) -> Any:
    """An ``XrvDenseNet121``: a 2-D one-channel :func:`to_xrv_range` + MONAI ``DenseNet121`` with ``out_channels`` outputs."""
    return _xrv_network_class()(spatial_dims=2, in_channels=1, out_channels=int(out_channels))


def xrv_contract(xf: XrvFile, classes: Sequence[str] | None = None) -> Any:
    """The classifier contract of weights ``xf``: the CheXNeXt findings it predicts (or ``classes``)."""
    trained = {n for n in xf.labels if n}
    chosen = [c for c in (classes or CHEXNEXT_LABELS) if _named(c, trained)]
    if not chosen:
        raise InvalidInputError(f"{xf.path}: predicts none of {', '.join(classes or CHEXNEXT_LABELS)} "
                                f"(its outputs: {', '.join(sorted(trained))})")
    th = [xf.op_threshs.get(_named(c, trained) or "", 0.5) for c in chosen]
    w = xf.weights
    src = f"torchxrayvision {w.name} ({w.datasets})" if w is not None else f"torchxrayvision weights {xf.path.name}"
    c = classify_contract(chosen, arch="densenet121", size=XRV_INPUT_SIZE, multilabel=True, thresholds=th,
                          name=(w.name if w is not None else f"xrv-{xf.path.stem}"))
    return c.with_changes(
        normalization="none", is_trained=True, trained_on=src,
        description=(f"{src}: DenseNet-121, {XRV_INPUT_SIZE} px, one grey channel; raw pixel values mapped to "
                     "torchxrayvision's [-1024, 1024] inside the network; decision thresholds: "
                     f"{'torchxrayvision operating points' if xf.op_threshs else '0.5 (no operating points known)'}"),
    )


def _named(c: str, names: set[str]) -> str | None:
    key = re.sub(r"[\s_\-]+", "", c).lower()
    for n in names:
        if re.sub(r"[\s_\-]+", "", n).lower() == key:
            return n
    return None


def xrv_reference_contract(ref: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None) -> Any:
    """The contract :func:`load_xrv_classifier` would give ``ref``, for listings: a published file (by name) is
    described from :data:`XRV_WEIGHTS` without reading its weights; another file is read (safely)."""
    path = resolve_xrv_reference(ref, cache_dir)
    w = _BY_FILENAME.get(path.name)
    if w is None:
        return xrv_contract(read_xrv_file(path))
    return xrv_contract(XrvFile(path=path, state={}, labels=w.labels, op_threshs=dict(w.op_threshs),
                                kind="published weights", weights=w))


def load_xrv_classifier(ref: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
                        classes: Sequence[str] | None = None) -> Any:
    """A :class:`~napari_medai.core.models.LoadedModel` of torchxrayvision weights (file, ``xrv:<name>`` or name):
    the CheXNeXt findings they predict (or ``classes``), ready for :func:`classify_image`."""
    from ...models.networks import LoadedModel

    path = resolve_xrv_reference(ref, cache_dir)
    xf = read_xrv_file(path)
    contract = xrv_contract(xf, classes)
    picked = xrv_head_to_chexnext(map_torchvision_densenet(xf.state), contract.output_channels, xf.labels)
    net = xrv_densenet121(len(contract.output_channels))
    net.load_state_dict(picked, strict=True)
    lm = LoadedModel.from_network(net, contract, source=f"torchxrayvision weights {path}")
    lm.path = path
    lm.info = {"xrv_file": xf.kind, "labels": list(xf.labels), "op_threshs": dict(xf.op_threshs)}
    lm.notes.extend(xf.notes)
    lm.notes.append("the whole image is resized to 224 x 224 (torchxrayvision centre-crops to a square first)")
    return lm


# ---------------------------------------------------------------------------------------------
# fetching a published file, only when asked
# ---------------------------------------------------------------------------------------------
def download_xrv_weights(name: str, *, cache_dir: str | os.PathLike[str] | None = None, url: str | None = None,
                         timeout: float = 60.0, progress: ProgressFn | None = None,
                         opener: Callable[..., Any] | None = None) -> Path:
    """Fetch published weights ``name`` into the cache folder (atomically) and check they read safely.

    Parameters
    ----------
    name
        One of :data:`XRV_WEIGHTS`.
    url
        Another address of the same file (default torchxrayvision's release on GitHub).
    timeout, progress
        Seconds to wait for the server; ``progress(fraction, message)``.
    opener
        ``urllib.request.urlopen`` by default.

    Returns
    -------
    Path
        The file in the cache (an existing one is returned as it is).

    Raises
    ------
    ModelDownloadError
        No internet or another download failure, or a file that does not read as the weights.
    """
    from ...io.atomic import atomic_write

    w = XRV_WEIGHTS.get(str(name).removeprefix(XRV_PREFIX))
    if w is None:
        raise InvalidInputError(f"{name!r} is not a published torchxrayvision DenseNet; names: {', '.join(XRV_WEIGHTS)}")
    target = xrv_cache_dir(cache_dir) / w.filename
    if target.is_file():
        return target
    src = url or w.url
    open_url = opener or urllib.request.urlopen

    def fetch(tmp: Path) -> None:
        try:
            with open_url(src, timeout=timeout) as resp, open(tmp, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) if getattr(resp, "headers", None) else 0
                done = 0
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None and total:
                        progress(min(1.0, done / total), f"{w.filename}: {done / 2**20:.0f} of {total / 2**20:.0f} MB")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ModelDownloadError(f"cannot download {w.name} from {src} ({str(reason).splitlines()[0]}); without "
                                     f"internet, copy {w.filename} into {target.parent}") from exc
        try:
            read_xrv_file(tmp)
        except (ModelLoadError, InvalidInputError) as exc:
            raise ModelDownloadError(f"{src}: what came is not {w.name}'s weights ({exc})") from exc

    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, fetch, suffix=".pt")
    return target

