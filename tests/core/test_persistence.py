"""Atomic writes (core/io/atomic.py) and model folders on disk (core/models/persistence.py)."""

from __future__ import annotations

import json
import os

import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.io.atomic import FolderNotWritableError, atomic_path, atomic_write


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_write_replaces_the_target_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write(target, lambda p: p.write_text("first"))
    atomic_write(target, lambda p: p.write_text("second"))
    assert target.read_text() == "second"
    assert _leftovers(target.parent) == []


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_the_temporary_file_keeps_the_suffix_and_gets_ordinary_permissions(tmp_path):
    with atomic_path(tmp_path / "img.nii.gz", suffix=".tmp.nii.gz") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".img.nii.gz.") and tmp.name.endswith(".tmp.nii.gz")
        tmp.write_bytes(b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "img.nii.gz").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_protected_input_is_refused(tmp_path):
    src = tmp_path / "input.csv"
    src.write_text("keep")
    with pytest.raises(InvalidInputError, match="refusing to overwrite an input file"):
        atomic_write(tmp_path / "." / "input.csv", lambda p: p.write_text("x"), protect=[None, src])
    assert src.read_text() == "keep"


def test_an_unwritable_place_is_told_apart_from_a_failed_write(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(FolderNotWritableError) as info:
        atomic_write(blocker / "out.txt", lambda p: p.write_text("x"))
    assert isinstance(info.value, OSError) and info.value.strerror


def test_model_folder_records_and_checks_the_weights_checksum(tmp_path):
    torch = pytest.importorskip("torch")
    from napari_medai.core.models import ModelLoadError, NetworkSpec, load_model
    from napari_medai.core.models.persistence import file_sha256, read_model_json, save_model_folder
    from napari_medai.core.tasks.ldct.supervised import DenoiserContract, build_denoiser_network

    c = DenoiserContract(name="tiny", network=NetworkSpec("REDCNN", {"filters": 4}))
    net = build_denoiser_network(c.network)
    folder = save_model_folder(tmp_path / "m", net, c, training={"note": "test"})
    doc = read_model_json(folder)
    assert doc["sha256"] == {"model.pt": file_sha256(folder / "model.pt")}
    assert load_model(folder).contract.name == "tiny"

    # a folder written before checksums were recorded still loads
    old = dict(doc)
    del old["sha256"]
    (folder / "model.json").write_text(json.dumps(old))
    assert load_model(folder).contract.name == "tiny"

    # weights swapped behind model.json's back are refused
    (folder / "model.json").write_text(json.dumps(doc))
    sd = {k: v + 1 for k, v in net.state_dict().items()}
    torch.save(sd, str(folder / "model.pt"))
    with pytest.raises(ModelLoadError, match="sha256 differs"):
        load_model(folder)
