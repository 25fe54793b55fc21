"""Turn a model name or file into a runnable network: :func:`load_model` -> :class:`LoadedModel`.

Sources understood by :func:`load_model`:

* a registry name (:mod:`.registry`): a MONAI model-zoo bundle is looked up in the cache folder,
  downloaded there with ``monai.bundle.download`` when missing (and internet is available), its
  ``models/model.pt`` checked against the published md5, then loaded exactly like a local bundle;
  a packaged napari-medai model is looked up in :func:`~.registry.model_search_dirs`;
* a MONAI bundle folder or ``.zip`` in the model-zoo layout (``configs/metadata.json``,
  ``configs/inference.json``, ``models/model.pt`` and/or ``models/model.ts``);
* a napari-medai model folder (``model.json`` + ``model.pt``), as written by
  :func:`napari_medai.core.training.train`; a folder of another kind (:data:`FOLDER_KINDS`, e.g. a
  CT denoiser's, task ``ldct_denoising``, written by :func:`napari_medai.core.tasks.ldct.train_ldct`)
  is handed to the loader its task registers with :func:`register_loader` when imported
  (:func:`napari_medai.core.tasks.ldct.load_denoiser`); this module never imports a task;
* a TorchScript file (``.ts``/``.pt``) -- its contract comes from a ``model.json`` beside it, the
  bundle it sits in, or the ``contract=`` argument.

Safety: bundle configs are read as JSON data and never executed (``$`` expressions are refused,
``@`` references resolved to plain values; the network class must be one of
:data:`ALLOWED_NETWORKS`, or a napari-medai network of :data:`PROJECT_NETWORKS`); state dicts are
read with ``torch.load(..., weights_only=True)``, so no pickled object is ever run.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..callbacks import ProgressFn
from ..errors import InvalidInputError
from .contract import ModelContract, NetworkSpec, canonical_channel
from .errors import ModelDownloadError, ModelLoadError, ModelNotAvailableError, UnknownModelError
from .persistence import (
    MODEL_FOLDER_FORMAT,
    MODEL_FOLDER_VERSION,
    load_state_dict_file,
    read_json,
    read_model_json,
    save_model_folder,
    write_model_json,
)
from .registry import REGISTRY, RegistryEntry, cache_dir, get_entry, model_search_dirs

__all__ = [
    "ALLOWED_NETWORKS",
    "MODEL_FOLDER_FORMAT",
    "MODEL_FOLDER_VERSION",
    "LoadedModel",
    "ModelFolderLoader",
    "PROJECT_NETWORKS",
    "build_network",
    "bundle_contract",
    "download_bundle",
    "file_md5",
    "load_model",
    "read_model_json",
    "register_loader",
    "save_model_folder",
    "verify_md5",
    "write_model_json",
]

#: MONAI network classes a contract or bundle may name.
ALLOWED_NETWORKS: tuple[str, ...] = (
    "SegResNet", "SegResNetDS", "UNet", "BasicUNet", "BasicUNetPlusPlus", "DynUNet", "UNETR",
    "SwinUNETR", "AttentionUnet", "VNet", "HighResNet", "FlexibleUNet",
    # classifiers (contract kind "classification")
    "Classifier", "DenseNet", "DenseNet121", "ResNet",
)
#: Networks napari-medai defines itself (not in MONAI), built from JSON arguments like the MONAI ones:
#: name -> ``module:builder`` inside this package (``builder(**kwargs)`` returns the module).
PROJECT_NETWORKS: dict[str, str] = {"DeepMedic": "deepmedic:build_deepmedic",
                                    "LandmarkNet": "landmark_net:build_landmark_net"}
_IGNORED_PRE = {
    "LoadImaged", "LoadImage", "EnsureChannelFirstd", "EnsureChannelFirst", "AddChanneld", "EnsureTyped",
    "EnsureType", "ToTensord", "ToTensor", "CastToTyped", "CastToType", "ToDeviced", "Identityd",
    "CopyItemsd", "ConcatItemsd",
}
_IGNORED_POST = {
    "Invertd", "SaveImaged", "SaveImage", "EnsureTyped", "ToTensord", "ToNumpyd", "CopyItemsd",
    "SqueezeDimd", "ToDeviced", "CastToTyped", "DeleteItemsd",
}
_REGION_ABBREVIATIONS = {
    "tumorcore": "TC", "tumourcore": "TC", "tc": "TC",
    "wholetumor": "WT", "wholetumour": "WT", "wt": "WT",
    "enhancingtumor": "ET", "enhancingtumour": "ET", "et": "ET",
}


# ---------------------------------------------------------------------------------------------
# the loaded model
# ---------------------------------------------------------------------------------------------
@dataclass(eq=False)
class LoadedModel:
    """A network ready to run, with the contract that says how.

    Attributes
    ----------
    contract
        What the model takes and gives.
    network
        The ``torch.nn.Module`` (or TorchScript module) in eval mode, on the CPU until
        :func:`napari_medai.core.inference.predict` moves it.
    source
        Where it came from, in words (registry name, path).
    path
        The folder or file loaded, if any.
    weights_format
        ``"state_dict"``, ``"torchscript"`` or ``"random"`` (freshly initialised, untrained).
    info
        Provenance: ``weights_md5``, bundle ``metadata`` or napari-medai ``training`` summary.
    notes
        Things a user should know (e.g. ignored bundle post-processing steps).
    """

    contract: ModelContract
    network: Any
    source: str
    path: Path | None = None
    weights_format: str = "state_dict"
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.contract.name

    @property
    def is_trained(self) -> bool:
        return self.contract.is_trained

    def describe(self) -> str:
        """One paragraph: the contract summary and the source."""
        return f"{self.contract.summary()} [from {self.source}]"

    @classmethod
    def from_network(cls, network: Any, contract: ModelContract, *, source: str = "in-memory network",
                     weights_format: str = "state_dict") -> LoadedModel:
        """Wrap an existing ``torch.nn.Module`` (e.g. random weights for a benchmark)."""
        network.eval()
        return cls(contract=contract, network=network, source=source, weights_format=weights_format)

    @classmethod
    def random(cls, contract: ModelContract, *, seed: int = 0) -> LoadedModel:
        """The contract's network with random weights; the contract is marked untrained."""
        import torch

        torch.manual_seed(int(seed))
        net = build_network(contract.network)
        c = contract.with_changes(is_trained=False, trained_on="")
        return cls.from_network(net, c, source=f"random weights (seed {seed})", weights_format="random")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def file_md5(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex md5 of a file."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def verify_md5(path: str | os.PathLike[str], expected: str, *, fix: str | None = None) -> str:
    """Check a file's md5 against ``expected``; returns the md5.

    Raises
    ------
    ModelDownloadError
        When the file is missing or its md5 differs (the message gives both values).
    """
    p = Path(path)
    if not p.is_file():
        raise ModelDownloadError(
            f"{p}: missing (its md5 should be {expected}); " + (fix or "download the model again")
        )
    actual = file_md5(p)
    if actual.lower() != str(expected).lower():
        raise ModelDownloadError(
            f"{p}: md5 {actual} does not match the published {expected}, so the file is incomplete or "
            "not the published one; " + (fix or f"delete {p.parent} and download it again")
        )
    return actual


def build_network(spec: NetworkSpec) -> Any:
    """Instantiate ``monai.networks.nets.<spec.name>(**spec.kwargs)`` (allow-listed classes only), or a
    network of :data:`PROJECT_NETWORKS` (e.g. ``DeepMedic``) from the same JSON arguments."""
    if spec.name not in ALLOWED_NETWORKS and spec.name not in PROJECT_NETWORKS:
        raise ModelLoadError(
            f"network {spec.name!r} is not one napari-medai builds; allowed: "
            f"{', '.join((*ALLOWED_NETWORKS, *PROJECT_NETWORKS))} (or export the model to TorchScript)"
        )
    if spec.name in PROJECT_NETWORKS:
        module, builder = PROJECT_NETWORKS[spec.name].split(":")
        cls = getattr(importlib.import_module(f"{__package__}.{module}"), builder)
    else:
        import monai.networks.nets as nets

        cls = getattr(nets, spec.name, None)
    if cls is None:
        raise ModelLoadError(f"this MONAI ({_version('monai')}) has no network {spec.name!r}; upgrade MONAI")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.kwargs.items()}
    try:
        net = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"cannot build {spec.name}({_fmt_kwargs(spec.kwargs)}): {exc}") from exc
    net.eval()
    return net


def _fmt_kwargs(kw: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kw.items())


def _version(pkg: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "not installed"


def _load_weights(net: Any, path: Path, spec: NetworkSpec) -> None:
    sd = load_state_dict_file(path)
    try:
        missing, unexpected = net.load_state_dict(sd, strict=False)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ModelLoadError(
            f"{path}: the weights do not fit {spec.name}({_fmt_kwargs(spec.kwargs)}): "
            f"{' '.join(first[:3])[:400]}; the network description does not match these weights"
        ) from exc
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(list(missing)[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(list(unexpected)[:3])})")
        raise ModelLoadError(
            f"{path}: the weights do not fit {spec.name}({_fmt_kwargs(spec.kwargs)}): "
            + "; ".join(parts) + " parameter names; the network description does not match these weights"
        )
    net.eval()


def _load_torchscript(path: Path) -> Any:
    import torch

    try:
        net = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelLoadError(f"{path}: not a TorchScript model ({str(exc).splitlines()[0][:200]})") from exc
    net.eval()
    return net


def _is_torchscript_file(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _is_bundle_dir(p: Path) -> bool:
    return (p / "configs" / "metadata.json").is_file()


def _find_bundle_root(p: Path) -> Path | None:
    if _is_bundle_dir(p):
        return p
    subs = [c for c in p.iterdir() if c.is_dir() and _is_bundle_dir(c)] if p.is_dir() else []
    return subs[0] if len(subs) == 1 else None


# ---------------------------------------------------------------------------------------------
# MONAI bundles
# ---------------------------------------------------------------------------------------------
def _resolve(value: Any, config: Mapping[str, Any], *, where: str, depth: int = 0) -> Any:
    """Resolve ``@key`` / ``@a#b`` references to plain values; refuse ``$`` expressions."""
    if depth > 20:
        raise ModelLoadError(f"{where}: references nest too deeply")
    if isinstance(value, str):
        if value.startswith("$"):
            raise ModelLoadError(
                f"{where}: {value[:80]!r} is a Python expression; napari-medai reads bundle configs as data "
                "and never runs code from them (write the value literally, or give contract=)"
            )
        if value.startswith("%"):
            raise ModelLoadError(f"{where}: macro {value[:80]!r} (a reference into another file) is not supported")
        if value.startswith("@"):
            node: Any = config
            for part in value[1:].split("#"):
                if isinstance(node, Mapping) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    raise ModelLoadError(f"{where}: reference {value!r} points at nothing in the config")
            return _resolve(node, config, where=where, depth=depth + 1)
        return value
    if isinstance(value, list):
        return [_resolve(v, config, where=where, depth=depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {k: _resolve(v, config, where=f"{where}.{k}", depth=depth + 1) for k, v in value.items()}
    return value


def _target_name(node: Mapping[str, Any]) -> str:
    t = str(node.get("_target_", ""))
    return t.rsplit(".", 1)[-1]


def _transform_list(config: Mapping[str, Any], key: str, *, path: Path) -> list[Mapping[str, Any]]:
    node = config.get(key)
    if node is None:
        return []
    if isinstance(node, str) and node.startswith("@"):
        node = _resolve(node, config, where=f"{path.name}:{key}")
    if isinstance(node, Mapping) and _target_name(node) == "Compose":
        node = node.get("transforms")
        if isinstance(node, str) and node.startswith("@"):
            node = _resolve(node, config, where=f"{path.name}:{key}.transforms")
    if not isinstance(node, list):
        raise ModelLoadError(
            f"{path}: '{key}' is not a plain list of transforms (napari-medai reads configs as data); "
            "give contract= to describe the model"
        )
    out = []
    for t in node:
        if isinstance(t, str) and t.startswith("@"):
            t = _resolve(t, config, where=f"{path.name}:{key}")
        if not isinstance(t, Mapping):
            raise ModelLoadError(f"{path}: a transform in '{key}' is not a JSON object: {str(t)[:80]!r}")
        out.append(t)
    return out


_LAMBDA_RULE = re.compile(r"x\[\[\s*(\d+)\s*\]\]\s*>\s*([0-9.]+)\s*,\s*(\d+)")


def _parse_label_lambda(func: str, *, path: Path) -> list[tuple[int, int]]:
    """``$lambda x: torch.where(x[[2]] > 0, 4, torch.where(x[[0]] > 0, 1, ...))`` -> [(2, 4), (0, 1), ...].

    The string is parsed with a regular expression, never evaluated.
    """
    body = func.lstrip("$").strip()
    if not body.startswith("lambda") or "torch.where" not in body:
        raise ModelLoadError(
            f"{path}: cannot read the output mapping {func[:100]!r} (only nested torch.where(x[[c]] > 0, label, ...) "
            "is understood); give contract= to describe the model"
        )
    rules = [(int(c), int(v)) for c, _, v in _LAMBDA_RULE.findall(body)]
    if not rules or body.count("torch.where") != len(rules):
        raise ModelLoadError(f"{path}: cannot read the output mapping {func[:100]!r}; give contract=")
    return rules


def _channel_defs(fmt: Mapping[str, Any], n: int) -> list[str] | None:
    cd = fmt.get("channel_def") if isinstance(fmt, Mapping) else None
    if not isinstance(cd, Mapping) or not cd:
        return None
    try:
        items = sorted(((int(k), str(v)) for k, v in cd.items()), key=lambda kv: kv[0])
    except ValueError:
        return None
    if [k for k, _ in items] != list(range(len(items))) or (n and len(items) != n):
        return None
    return [v for _, v in items]


def bundle_contract(bundle_dir: str | os.PathLike[str], *, name: str | None = None) -> tuple[ModelContract, list[str]]:
    """Read a MONAI bundle's configs into a :class:`ModelContract` (without running any code).

    Parameters
    ----------
    bundle_dir
        Folder holding ``configs/metadata.json`` and ``configs/inference.json``.
    name
        Model name; defaults to the folder name.

    Returns
    -------
    (ModelContract, notes)
        The contract, and notes on config parts that were ignored.

    Raises
    ------
    ModelLoadError
        When something needed cannot be read as data (Python expressions, unknown transforms,
        a network class outside :data:`ALLOWED_NETWORKS`, a missing window size...).
    """
    root = Path(bundle_dir)
    meta = read_json(root / "configs" / "metadata.json", what="the bundle's metadata")
    inf_path = root / "configs" / "inference.json"
    if not inf_path.is_file():
        if (root / "configs" / "inference.yaml").is_file():
            raise ModelLoadError(f"{root}: only JSON bundle configs are read; convert configs/inference.yaml to JSON")
        raise ModelLoadError(f"{inf_path}: missing; a bundle needs configs/inference.json")
    inf = read_json(inf_path, what="the bundle's inference config")
    notes: list[str] = []

    # network
    nd = inf.get("network_def")
    if isinstance(nd, str):
        nd = _resolve(nd, inf, where="network_def")
    if not isinstance(nd, Mapping) or "_target_" not in nd:
        raise ModelLoadError(f"{inf_path}: no network_def with a _target_ (the MONAI network class)")
    kwargs = {k: _resolve(v, inf, where=f"network_def.{k}") for k, v in nd.items() if not k.startswith("_")}
    spec = NetworkSpec(_target_name(nd), kwargs)
    if spec.name not in ALLOWED_NETWORKS:
        raise ModelLoadError(
            f"{inf_path}: network {spec.name!r} is not one napari-medai builds ({', '.join(ALLOWED_NETWORKS)}); "
            "use the bundle's models/model.ts (TorchScript) with contract="
        )

    # inputs / outputs
    ndf = meta.get("network_data_format") or {}
    inputs = ndf.get("inputs") or {}
    outputs = ndf.get("outputs") or {}
    in_fmt = next(iter(inputs.values()), {}) if isinstance(inputs, Mapping) else {}
    out_fmt = next(iter(outputs.values()), {}) if isinstance(outputs, Mapping) else {}
    n_in = int(kwargs.get("in_channels", in_fmt.get("num_channels", 0)) or 0)
    n_out = int(kwargs.get("out_channels", out_fmt.get("num_channels", 0)) or 0)
    in_names = _channel_defs(in_fmt, n_in)
    if in_names is None:
        if not n_in:
            raise ModelLoadError(f"{root}: neither the metadata nor network_def says how many input channels")
        in_names = [f"channel{i}" for i in range(n_in)]
        notes.append("the bundle names no input channels; give them in this order: " + ", ".join(in_names))
    channels = tuple(canonical_channel(c) for c in in_names)
    out_names = _channel_defs(out_fmt, n_out)
    if out_names is None:
        out_names = [f"class{i}" for i in range(n_out)] if n_out else []
    out_names = [_REGION_ABBREVIATIONS.get(re.sub(r"[^a-z0-9]", "", n.lower()), n) for n in out_names]
    if not out_names:
        raise ModelLoadError(f"{root}: cannot tell how many output channels the network has")

    # preprocessing
    orientation = "storage"
    spacing: tuple[float, ...] | None = None
    normalization = "none"
    for t in _transform_list(inf, "preprocessing", path=inf_path):
        tn = _target_name(t)
        args = {k: _resolve(v, inf, where=f"preprocessing.{tn}.{k}") for k, v in t.items() if k != "_target_"}
        if tn in _IGNORED_PRE:
            continue
        if tn in ("Orientationd", "Orientation"):
            orientation = str(args.get("axcodes", "RAS"))
        elif tn in ("Spacingd", "Spacing"):
            pix = args.get("pixdim")
            spacing = tuple(float(x) for x in (pix if isinstance(pix, list) else [pix] * 3))
        elif tn in ("NormalizeIntensityd", "NormalizeIntensity"):
            if args.get("subtrahend") is not None or args.get("divisor") is not None:
                raise ModelLoadError(f"{inf_path}: NormalizeIntensityd with fixed subtrahend/divisor is not supported")
            if not args.get("channel_wise", False) and n_in > 1:
                raise ModelLoadError(
                    f"{inf_path}: NormalizeIntensityd(channel_wise=False) over several channels is not supported"
                )
            normalization = "zscore-nonzero" if args.get("nonzero", False) else "zscore"
        else:
            raise ModelLoadError(
                f"{inf_path}: preprocessing step {tn!r} is not one napari-medai reproduces (it reads "
                "Orientationd, Spacingd, NormalizeIntensityd and loading/typing steps); give contract= to "
                "describe how inputs must be prepared"
            )
    if spacing is None:
        m = re.search(r"(\d+(?:\.\d+)?)\s*x\s*(\d+(?:\.\d+)?)\s*x\s*(\d+(?:\.\d+)?)\s*mm", str(meta.get("image_classes", "")))
        if m:
            spacing = tuple(float(g) for g in m.groups())

    # inferer
    inferer = inf.get("inferer")
    if isinstance(inferer, str):
        inferer = _resolve(inferer, inf, where="inferer")
    roi: Any = None
    overlap = 0.25
    blend = "constant"
    if isinstance(inferer, Mapping) and _target_name(inferer) == "SlidingWindowInferer":
        roi = _resolve(inferer.get("roi_size"), inf, where="inferer.roi_size")
        overlap = float(_resolve(inferer.get("overlap", 0.25), inf, where="inferer.overlap"))
        blend = str(_resolve(inferer.get("mode", "constant"), inf, where="inferer.mode"))
    if roi is None:
        shape = in_fmt.get("spatial_shape") if isinstance(in_fmt, Mapping) else None
        if isinstance(shape, list) and all(isinstance(s, int) for s in shape):
            roi = shape
        else:
            raise ModelLoadError(f"{inf_path}: no SlidingWindowInferer roi_size; cannot tell the window size")
    if isinstance(roi, int):
        roi = [roi] * int(kwargs.get("spatial_dims", 3))

    # postprocessing: activation, threshold, label mapping
    kind = None
    threshold = 0.5
    rules: list[tuple[int, int]] | None = None
    for t in _transform_list(inf, "postprocessing", path=inf_path):
        tn = _target_name(t)
        if tn in _IGNORED_POST:
            continue
        if tn in ("Activationsd", "Activations"):
            if t.get("sigmoid"):
                kind = "sigmoid-regions"
            elif t.get("softmax"):
                kind = "softmax-labels"
        elif tn in ("AsDiscreted", "AsDiscrete"):
            if t.get("threshold") is not None:
                threshold = float(_resolve(t["threshold"], inf, where="AsDiscreted.threshold"))
                kind = kind or "sigmoid-regions"
            if t.get("argmax"):
                kind = "softmax-labels"
        elif tn in ("Lambdad", "Lambda"):
            func = t.get("func")
            if isinstance(func, str) and "torch.where" in func:
                rules = _parse_label_lambda(func, path=inf_path)
            else:
                notes.append(f"ignored a post-processing Lambdad the engine cannot read ({str(func)[:60]!r})")
        else:
            notes.append(f"ignored post-processing step {tn} (napari-medai does not reproduce it)")
    if kind is None:
        kind = "softmax-labels" if len(out_names) > 1 else "sigmoid-regions"
        notes.append(f"the bundle names no output activation; assumed {kind}")

    label_rules: tuple[tuple[str, int], ...] = ()
    class_labels: tuple[int, ...] = ()
    if kind == "sigmoid-regions":
        if rules is None:
            rules = [(c, c + 1) for c in reversed(range(len(out_names)))]
            notes.append("the bundle gives no region-to-label mapping; output channel c became label c+1 "
                         "(later channels win)")
        bad = [c for c, _ in rules if c >= len(out_names)]
        if bad:
            raise ModelLoadError(f"{inf_path}: the output mapping uses channel(s) {bad} of {len(out_names)}")
        label_rules = tuple((out_names[c], v) for c, v in rules)
        values = {v for _, v in label_rules}
    else:
        class_labels = tuple(range(len(out_names)))
        values = set(class_labels) - {0}

    convention, label_names = _guess_convention(out_names, label_rules, values)
    trained_on = str(meta.get("description") or meta.get("task") or "the bundle's training data")
    src = meta.get("data_source")
    if src:
        trained_on += f" (data: {src})"
    contract = ModelContract(
        name=name or root.name,
        task="brain_tumour" if set(out_names) >= {"TC", "WT", "ET"} else str(meta.get("task", "segmentation")),
        channels=channels,
        output_kind=kind,  # type: ignore[arg-type]
        output_channels=tuple(out_names),
        label_convention=convention,
        label_names=label_names,
        network=spec,
        roi_size=tuple(int(r) for r in roi),
        spatial_dims=int(kwargs.get("spatial_dims", 3)),
        target_spacing=spacing,
        orientation=orientation,
        normalization=normalization,
        threshold=threshold,
        label_rules=label_rules,
        class_labels=class_labels,
        overlap=overlap,
        blend_mode=blend if blend in ("constant", "gaussian") else "constant",
        trained_on=trained_on,
        is_trained=True,
        description=f"MONAI bundle {meta.get('name', root.name)} v{meta.get('version', '?')}",
    )
    return contract, notes


def _guess_convention(
    out_names: list[str], rules: tuple[tuple[str, int], ...], values: set[int]
) -> tuple[str, dict[int, str]]:
    from ..metrics import CONVENTIONS

    if set(out_names) == {"TC", "WT", "ET"} and rules:
        et = dict(rules).get("ET")
        for conv in ("brats2021", "brats2023"):
            labels = CONVENTIONS[conv].labels
            if values <= set(labels) and et in CONVENTIONS[conv].regions["ET"]:
                return conv, {v: labels[v] for v in sorted(values)}
    if rules:
        return "custom", {v: r for r, v in rules}
    return "custom", {v: out_names[v] if v < len(out_names) else f"label {v}" for v in sorted(values)}


def _extract_zip(zip_path: Path, cache: Path) -> Path:
    """Extract a bundle zip into the cache (once per content), refusing unsafe member paths."""
    digest = file_md5(zip_path)[:16]
    target = cache / "bundles" / "_unzipped" / digest
    if (target / ".complete").is_file():
        root = _find_bundle_root(target)
        if root is not None:
            return root
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unzip-", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as z:
            base = tmp.resolve()
            for member in z.namelist():
                dest = (tmp / member).resolve()
                if base != dest and base not in dest.parents:
                    raise ModelLoadError(f"{zip_path}: member {member!r} would be written outside the folder; refused")
            z.extractall(tmp)
        (tmp / ".complete").write_text("ok\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(f"{zip_path}: not a readable zip file ({exc})") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    root = _find_bundle_root(target)
    if root is None:
        raise ModelLoadError(
            f"{zip_path}: no MONAI bundle inside (expected configs/metadata.json at the top or in one folder)"
        )
    return root


def _load_bundle(root: Path, *, name: str | None = None, source: str | None = None) -> LoadedModel:
    contract, notes = bundle_contract(root, name=name)
    pt = root / "models" / "model.pt"
    ts = root / "models" / "model.ts"
    info: dict[str, Any] = {"source_kind": "monai-bundle"}
    meta = read_json(root / "configs" / "metadata.json", what="the bundle's metadata")
    info["metadata"] = {k: meta[k] for k in ("version", "description", "eval_metrics", "data_source",
                                              "intended_use", "monai_version") if k in meta}
    if pt.is_file():
        net = build_network(contract.network)
        _load_weights(net, pt, contract.network)
        fmt, wpath = "state_dict", pt
    elif ts.is_file():
        net = _load_torchscript(ts)
        fmt, wpath = "torchscript", ts
    else:
        raise ModelLoadError(
            f"{root}: the bundle has neither models/model.pt nor models/model.ts (the large files were "
            "not downloaded); download the bundle with its weights"
        )
    info["weights_md5"] = file_md5(wpath)
    info["weights_file"] = str(wpath)
    return LoadedModel(contract=contract, network=net, source=source or f"MONAI bundle {root}",
                       path=root, weights_format=fmt, info=info, notes=notes)


def download_bundle(
    name: str,
    *,
    version: str | None = None,
    md5: Mapping[str, str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
    progress: ProgressFn | None = None,
) -> Path:
    """The folder of MONAI bundle ``name`` in the cache, downloading it first when missing.

    Parameters
    ----------
    name, version
        Model-zoo bundle name and version.
    md5
        ``{relative path: md5}`` checked after download (and on every later use).
    cache
        Cache folder (default :func:`~.registry.cache_dir`); the bundle lands in ``cache/bundles/name``.
    allow_download
        False: never touch the network.

    Raises
    ------
    ModelDownloadError
        Offline or failed download (the message says how to point at a local copy), or an md5 mismatch.
    """
    root = Path(cache) if cache is not None else cache_dir()
    bundles = root / "bundles"
    bdir = bundles / name
    local_hint = (
        f"without internet, download it on another machine with python -c \"import monai; "
        f"monai.bundle.download(name='{name}', bundle_dir='DIR')\" and give the folder DIR/{name} (or a zip "
        f"of it) as the model, e.g. --model DIR/{name}, or copy that folder to {bdir}"
    )
    if not _is_bundle_dir(bdir):
        if not allow_download:
            raise ModelDownloadError(f"MONAI bundle {name!r} is not in the cache {bdir} and downloading is off; {local_hint}")
        if progress is not None:
            progress(0.0, f"downloading MONAI bundle {name} into {bundles}")
        bundles.mkdir(parents=True, exist_ok=True)
        try:
            from monai.bundle import download

            download(name=name, version=version, bundle_dir=str(bundles), progress=False)
        except ImportError as exc:  # MONAI >= 1.4 fetches zoo bundles through huggingface_hub
            raise ModelDownloadError(
                f"could not download MONAI bundle {name!r}: MONAI's downloader needs a package that is not "
                f"installed ({str(exc).strip().splitlines()[0][:120]}); pip install huggingface_hub, or {local_hint}"
            ) from exc
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelDownloadError(f"could not download MONAI bundle {name!r} ({reason}); {local_hint}") from exc
        if not _is_bundle_dir(bdir):
            raise ModelDownloadError(f"downloading MONAI bundle {name!r} left no bundle in {bdir}; {local_hint}")
    for rel, expected in (md5 or {}).items():
        verify_md5(bdir / rel, expected, fix=f"delete {bdir} and load the model again to re-download it, or {local_hint}")
    return bdir


# ---------------------------------------------------------------------------------------------
# napari-medai model folders
# ---------------------------------------------------------------------------------------------
#: ``loader(folder) -> LoadedModel``: opens one kind of napari-medai model folder.
ModelFolderLoader = Callable[[Path], LoadedModel]


@dataclass(frozen=True)
class FolderKind:
    """A kind of model folder that a task, not this module, knows how to open.

    Attributes
    ----------
    module
        The module that registers the kind's loader (:func:`register_loader`) when imported.
    tasks, contract_kinds
        A ``model.json`` whose ``contract.task`` is in ``tasks`` or whose ``contract.kind`` is in
        ``contract_kinds`` is of this kind.
    description
        What such a model is, in words ("a CT denoiser").
    """

    module: str
    tasks: tuple[str, ...] = ()
    contract_kinds: tuple[str, ...] = ()
    description: str = ""


#: Model-folder kinds opened by a task's loader. Every other folder holds a :class:`ModelContract`
#: and is opened here. The task module is named as data and imported by name on first use, so the
#: generic model layer never imports a task (the ``layers`` contract in pyproject.toml checks it).
FOLDER_KINDS: dict[str, FolderKind] = {
    "denoiser": FolderKind(module="napari_medai.core.tasks.ldct", tasks=("ldct_denoising",),
                           contract_kinds=("denoiser",), description="a CT denoiser"),
}

_LOADERS: dict[str, ModelFolderLoader] = {}


def register_loader(kind: str, loader: ModelFolderLoader) -> None:
    """Make :func:`load_model` open model folders of ``kind`` (a key of :data:`FOLDER_KINDS`) with ``loader``.

    Called by the task module named in :data:`FOLDER_KINDS` when it is imported.
    """
    if kind not in FOLDER_KINDS:
        raise InvalidInputError(f"unknown model-folder kind {kind!r}; known: {', '.join(sorted(FOLDER_KINDS))}")
    _LOADERS[kind] = loader


def folder_kind(doc: Mapping[str, Any]) -> str | None:
    """The :data:`FOLDER_KINDS` key of a parsed ``model.json``; None for a :class:`ModelContract` folder."""
    c = doc.get("contract")
    if not isinstance(c, Mapping):
        return None
    for kind, fk in FOLDER_KINDS.items():
        if c.get("task") in fk.tasks or c.get("kind") in fk.contract_kinds:
            return kind
    return None


def _folder_loader(kind: str) -> ModelFolderLoader:
    if kind not in _LOADERS:
        importlib.import_module(FOLDER_KINDS[kind].module)  # registers the loader
    try:
        return _LOADERS[kind]
    except KeyError:
        raise ModelLoadError(
            f"{FOLDER_KINDS[kind].module} registered no loader for {kind} model folders; reinstall napari-medai"
        ) from None


def require_segmentation_model(model: Any, *, task: str | None = None) -> Any:
    """Return ``model`` if it is a segmentation model (of ``task``, when given); else raise.

    :func:`load_model` also opens CT denoisers; code that segments calls this first so that a
    denoiser (or another task's model) is refused with a message instead of failing later.

    Raises
    ------
    ModelLoadError
        The model is not a segmentation model, or is one of another task.
    """
    c = getattr(model, "contract", None)
    if not isinstance(c, ModelContract):
        kind = getattr(c, "task", None) or type(c).__name__
        raise ModelLoadError(
            f"{getattr(model, 'source', 'this model')} is a {kind} model, not a segmentation model; "
            "use it in the low-dose CT widget or 'napari-medai denoise --method trained --weights ...'"
        )
    if c.kind != "segmentation":
        raise ModelLoadError(
            f"{getattr(model, 'source', 'this model')} is a {c.kind} model ({c.task}), not a segmentation model; "
            "run it with napari_medai.core.inference.run_model (or predict_classification for classifiers)"
        )
    if task is not None and c.task != task:
        raise ModelLoadError(
            f"{getattr(model, 'source', 'this model')} segments {c.task!r}, not {task!r}; choose a {task} model"
        )
    return model


def _load_medai_folder(folder: Path, *, source: str | None = None) -> LoadedModel:
    doc = read_model_json(folder)
    kind = folder_kind(doc)
    if kind is not None:  # dispatch by contract type: e.g. a denoiser has no segmentation contract
        model = _folder_loader(kind)(folder)
        if source is not None:
            model.source = source
        return model
    try:
        contract = ModelContract.from_dict(doc.get("contract") or {})
    except InvalidInputError as exc:
        raise ModelLoadError(f"{folder / 'model.json'}: invalid model contract: {exc}") from exc
    pt, ts = folder / "model.pt", folder / "model.ts"
    if pt.is_file():
        net = build_network(contract.network)
        _load_weights(net, pt, contract.network)
        fmt, wpath = "state_dict", pt
    elif ts.is_file():
        net = _load_torchscript(ts)
        fmt, wpath = "torchscript", ts
    else:
        raise ModelLoadError(f"{folder}: model.json is there but no model.pt (the weights); was training cut off "
                             "before the first epoch ended? Resume it or train again")
    info = {"source_kind": "napari-medai", "weights_md5": file_md5(wpath), "weights_file": str(wpath),
            "training": doc.get("training", {})}
    notes = [] if contract.is_trained else [contract.training_status]
    return LoadedModel(contract=contract, network=net, source=source or f"napari-medai model {folder}",
                       path=folder, weights_format=fmt, info=info, notes=notes)


# ---------------------------------------------------------------------------------------------
# the one entry point
# ---------------------------------------------------------------------------------------------
def _contract_near(path: Path) -> tuple[ModelContract | None, str]:
    """A contract describing a lone weights file: a model.json beside it or its bundle's configs."""
    if (path.parent / "model.json").is_file():
        doc = read_model_json(path.parent)
        return ModelContract.from_dict(doc["contract"]), f"{path.parent / 'model.json'}"
    if path.parent.name == "models" and _is_bundle_dir(path.parent.parent):
        c, _ = bundle_contract(path.parent.parent)
        return c, f"bundle {path.parent.parent}"
    return None, ""


def _load_registry(entry: RegistryEntry, *, cache: Path | None, allow_download: bool,
                   progress: ProgressFn | None) -> LoadedModel:
    if entry.kind == "monai-bundle":
        bdir = download_bundle(entry.bundle_name or entry.name, version=entry.bundle_version, md5=entry.md5,
                               cache=cache, allow_download=allow_download, progress=progress)
        model = _load_bundle(bdir, name=entry.name, source=f"registry model {entry.name} ({bdir})")
        if entry.contract is not None:
            exp, got = entry.contract, model.contract
            for attr in ("channels", "output_channels", "label_rules", "output_kind"):
                if getattr(exp, attr) != getattr(got, attr):
                    raise ModelLoadError(
                        f"{bdir}: the bundle's configs give {attr} {getattr(got, attr)} but napari-medai expects "
                        f"{getattr(exp, attr)} for {entry.name}; the bundle version differs from "
                        f"{entry.bundle_version}: delete {bdir} and load it again"
                    )
            model.contract = got.with_changes(trained_on=exp.trained_on, description=exp.description)
        return model
    folder = entry.folder or entry.name
    for d in model_search_dirs():
        cand = d / folder
        if (cand / "model.json").is_file():
            model = _load_medai_folder(cand, source=f"registry model {entry.name} ({cand})")
            model.notes.append(f"{entry.name}: {entry.summary}")
            return model
    where = ", ".join(str(d / folder) for d in model_search_dirs())
    raise ModelNotAvailableError(f"model {entry.name!r} is not on this machine (looked in {where}): {entry.how_to_get}")


def load_model(
    source: str | os.PathLike[str] | LoadedModel,
    *,
    contract: ModelContract | None = None,
    allow_download: bool = True,
    cache: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
) -> LoadedModel:
    """Load a model from a registry name, a bundle folder/zip, a model folder or a TorchScript file.

    Parameters
    ----------
    source
        See the module docstring. A :class:`LoadedModel` is returned unchanged.
    contract
        Describes a lone weights file (TorchScript or state_dict) that has no ``model.json`` or
        bundle configs beside it; overrides nothing otherwise.
    allow_download
        Whether a registry bundle missing from the cache may be downloaded.
    cache
        Cache folder (default ``$NAPARI_MEDAI_CACHE`` or ``~/.cache/napari-medai``).
    progress
        ``progress(fraction, message)`` for the download step.

    Returns
    -------
    LoadedModel
        Network in eval mode on the CPU, with its contract.

    Raises
    ------
    UnknownModelError
        ``source`` is neither an existing path nor a registry name (lists the valid names).
    ModelLoadError, ModelDownloadError, ModelNotAvailableError
        The model cannot be read, downloaded, verified or found (messages say what to do).
    """
    if isinstance(source, LoadedModel):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidInputError(f"a model is a name or a path, got {type(source).__name__}")
    cache_p = Path(cache) if cache is not None else None
    text = os.fspath(source)
    p = Path(text).expanduser()
    if not p.exists():
        if text in REGISTRY:
            return _load_registry(get_entry(text), cache=cache_p, allow_download=allow_download, progress=progress)
        if os.sep in text or "/" in text or p.suffix.lower() in (".zip", ".pt", ".ts", ".pth", ".json"):
            raise UnknownModelError(
                f"{p}: no such file or folder; give an existing model folder, bundle folder/zip or TorchScript "
                "file, or one of the known model names: " + ", ".join(sorted(REGISTRY))
            )
        get_entry(text)  # raises with the list of names
    if p.is_dir():
        if (p / "model.json").is_file():
            return _load_medai_folder(p)
        root = _find_bundle_root(p)
        if root is not None:
            return _load_bundle(root)
        raise ModelLoadError(
            f"{p}: neither a napari-medai model folder (model.json + model.pt) nor a MONAI bundle "
            "(configs/metadata.json, configs/inference.json, models/model.pt)"
        )
    if p.name == "model.json":
        return _load_medai_folder(p.parent)
    if p.suffix.lower() == ".zip" and not _is_torchscript_file(p):
        root = _extract_zip(p, cache_p or cache_dir())
        return _load_bundle(root, source=f"MONAI bundle zip {p}")
    # a lone weights file
    kind = folder_kind(read_model_json(p.parent)) if (p.parent / "model.json").is_file() else None
    if kind is not None:
        if p.name != "model.pt":
            raise ModelLoadError(f"{p}: the model.json beside it describes {FOLDER_KINDS[kind].description} whose "
                                 f"weights are model.pt; load the folder {p.parent} instead")
        return _load_medai_folder(p.parent)
    near, where = _contract_near(p)
    c = contract or near
    if c is None:
        raise ModelLoadError(
            f"{p}: a weights file alone does not say which channels, window and labels the model uses; "
            "put it in a model folder with model.json, use the whole MONAI bundle, or pass contract="
        )
    if _is_torchscript_file(p):
        net = _load_torchscript(p)
        fmt = "torchscript"
    else:
        net = build_network(c.network)
        _load_weights(net, p, c.network)
        fmt = "state_dict"
    info = {"source_kind": "file", "weights_md5": file_md5(p), "weights_file": str(p),
            "contract_from": where or "contract= argument"}
    return LoadedModel(contract=c, network=net, source=f"{fmt} file {p}", path=p, weights_format=fmt, info=info)
