"""Read a MONAI bundle's configs into a :class:`~.contract.ModelContract`, as data, never as code.

``$`` expressions are refused, ``@`` references resolved to plain values, and the network class
must be one of :data:`~.networks.ALLOWED_NETWORKS`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .contract import ModelContract, NetworkSpec, canonical_channel
from .errors import ModelLoadError
from .networks import ALLOWED_NETWORKS
from .persistence import read_json

__all__ = ["bundle_contract"]

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

