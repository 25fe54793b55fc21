"""Builders shared by the model-engine tests: MONAI bundles in the zoo layout, small phantoms.

(Named ``test_*`` so that it sits among the files of the model engine; it holds no tests.)
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.volume import Volume


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run each test with one torch thread (restored after): tiny networks gain nothing from more, and
    on a machine whose cores are busy with other jobs, several threads wait for each other."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)

#: The real brats_mri_segmentation network (inference.json of the model zoo).
BRATS_NETWORK = {
    "_target_": "SegResNet", "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1], "init_filters": 16,
    "in_channels": 4, "out_channels": 3, "dropout_prob": 0.2,
}
BRATS_LAMBDA = (
    "$lambda x: torch.where(x[[2]] > 0, 4, torch.where(x[[0]] > 0, 1, torch.where(x[[1]] > 0, 2, 0)))"
)


def bundle_configs(roi=(32, 32, 32), network=None) -> tuple[dict, dict]:
    """(metadata.json, inference.json) in the layout of the zoo's brats_mri_segmentation."""
    metadata = {
        "version": "0.5.2-test",
        "task": "Multimodal Brain Tumor segmentation",
        "description": "random weights of the brats_mri_segmentation architecture, for tests",
        "image_classes": "4 channel data, T1c, T1, T2, FLAIR at 1x1x1 mm",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "num_channels": 4, "spatial_shape": ["8*n"] * 3,
                                 "channel_def": {"0": "T1c", "1": "T1", "2": "T2", "3": "FLAIR"}}},
            "outputs": {"pred": {"type": "image", "num_channels": 3, "spatial_shape": ["8*n"] * 3,
                                 "channel_def": {"0": "Tumor core", "1": "Whole tumor", "2": "Enhancing tumor"}}},
        },
    }
    inference = {
        "imports": ["$import glob", "$import os"],
        "bundle_root": ".",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "network_def": dict(network or BRATS_NETWORK),
        "network": "$@network_def.to(@device)",
        "preprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "LoadImaged", "keys": "image", "image_only": False},
            {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True, "channel_wise": True},
        ]},
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": list(roi), "sw_batch_size": 1, "overlap": 0.5},
        "postprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "Activationsd", "keys": "pred", "sigmoid": True},
            {"_target_": "Invertd", "keys": "pred", "transform": "@preprocessing", "orig_keys": "image",
             "meta_keys": "pred_meta_dict", "nearest_interp": False, "to_tensor": True},
            {"_target_": "AsDiscreted", "keys": "pred", "threshold": 0.5},
            {"_target_": "Lambdad", "keys": "pred", "func": BRATS_LAMBDA},
            {"_target_": "SaveImaged", "keys": "pred", "meta_keys": "pred_meta_dict", "output_dir": "@bundle_root",
             "output_postfix": "seg", "output_dtype": "uint8", "resample": False, "squeeze_end_dims": True},
        ]},
    }
    return metadata, inference


def make_bundle(folder: Path, *, roi=(32, 32, 32), seed: int = 0, torchscript: bool = False,
                state_dict: bool = True, network=None, name: str = "brats_mri_segmentation") -> Path:
    """Write a bundle folder ``folder/name`` with random weights of the real architecture."""
    import torch
    from monai.networks.nets import SegResNet

    root = Path(folder) / name
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    metadata, inference = bundle_configs(roi, network)
    (root / "configs" / "metadata.json").write_text(json.dumps(metadata, indent=2))
    (root / "configs" / "inference.json").write_text(json.dumps(inference, indent=2))
    torch.manual_seed(seed)
    kw = {k: v for k, v in (network or BRATS_NETWORK).items() if not k.startswith("_")}
    net = SegResNet(**kw).eval()
    if state_dict:
        torch.save(net.state_dict(), root / "models" / "model.pt")
    if torchscript:
        torch.jit.script(net).save(str(root / "models" / "model.ts"))
    return root


def zip_folder(root: Path, zip_path: Path) -> Path:
    """Zip ``root`` with its folder name as the top-level entry (as the zoo's zips are)."""
    with zipfile.ZipFile(zip_path, "w") as z:
        for p in sorted(root.rglob("*")):
            z.write(p, p.relative_to(root.parent).as_posix())
    return zip_path


def small_brain_case(seed: int = 0, shape=(32, 40, 36), spacing=(1.0, 1.0, 1.0)) -> dict[str, Volume]:
    """A tiny 4-sequence 'brain' with a bright lesion (for fast inference tests)."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    brain = (zz**2 + yy**2 + xx**2) < 0.8
    lesion = ((zz - 0.1) ** 2 + (yy + 0.2) ** 2 + xx**2) < 0.08
    out = {}
    for k, (base, bright) in {"flair": (100, 200), "t1": (120, 80), "t1c": (110, 260), "t2": (90, 180)}.items():
        img = np.where(brain, base, 0).astype(np.float32)
        img[lesion] = bright
        img[brain] += rng.normal(0, 5, int(brain.sum())).astype(np.float32)
        out[k] = Volume(img, spacing=spacing, name=k, modality="MR")
    seg = np.zeros(shape, np.uint8)
    seg[lesion] = 2
    seg[lesion & (((zz - 0.1) ** 2 + (yy + 0.2) ** 2 + xx**2) < 0.03)] = 4
    out["seg"] = Volume(seg, spacing=spacing, name="seg", is_label=True)
    out["brainmask"] = Volume(brain.astype(np.uint8), spacing=spacing, name="brainmask", is_label=True)
    return out


def write_phantom_cases(folder: Path, seeds=(1, 2, 3), shape=(48, 48, 48), layout: str = "brats2021") -> Path:
    """Write phantom brain-tumour cases as NIfTI case folders (BraTS 2021 or 2023 naming)."""
    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms import brain_tumour_phantom

    folder = Path(folder)
    for s in seeds:
        vols = brain_tumour_phantom(seed=s, shape=shape)
        name = f"phantom{s:03d}"
        case = folder / name
        case.mkdir(parents=True, exist_ok=True)
        if layout == "brats2021":
            names = {"flair": "flair", "t1": "t1", "t1c": "t1ce", "t2": "t2", "seg": "seg"}
            sep = "_"
            seg = vols["seg"]
        else:
            names = {"flair": "t2f", "t1": "t1n", "t1c": "t1c", "t2": "t2w", "seg": "seg"}
            sep = "-"
            data = np.asarray(vols["seg"].data).copy()
            data[data == 4] = 3  # BraTS 2023: ET is 3
            seg = vols["seg"].with_data(data)
        for key, fname in names.items():
            v = seg if key == "seg" else vols[key]
            write_volume(v, case / f"{name}{sep}{fname}.nii.gz")
    return folder
