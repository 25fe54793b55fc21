"""A cancelled de-identification (``should_stop``) leaves nothing in the output, and the input as it was."""

from __future__ import annotations

import pytest

from napari_medai.core.callbacks import Cancelled
from napari_medai.core.deidentify import deidentify_folder

from .dicom_objects import phantom_stack, write_ct_series


def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cancel_after_some_files_removes_what_was_written(tmp_path):
    write_ct_series(tmp_path / "in" / "ct", phantom_stack((5, 8, 8)))
    write_ct_series(tmp_path / "in" / "burned", phantom_stack((1, 8, 8)), burned_in="YES", series_uid="1.2.3.44",
                    file_prefix="B")  # sorted first: a review file is written before the cancel too
    before = _snapshot(tmp_path / "in")
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 3  # three files written, then cancelled

    with pytest.raises(Cancelled, match="after 3 of 6 files"):
        deidentify_folder(tmp_path / "in", tmp_path / "out", should_stop=stop, key_file=tmp_path / "key.json")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out_review").exists()
    assert not (tmp_path / "key.json").exists()
    assert _snapshot(tmp_path / "in") == before


def test_cancel_keeps_an_empty_output_folder_the_user_made(tmp_path):
    write_ct_series(tmp_path / "in" / "ct", phantom_stack((3, 8, 8)))
    (tmp_path / "out").mkdir()
    calls = iter([False, True])
    with pytest.raises(Cancelled):
        deidentify_folder(tmp_path / "in", tmp_path / "out", should_stop=lambda: next(calls))
    assert (tmp_path / "out").is_dir() and list((tmp_path / "out").iterdir()) == []
    result = deidentify_folder(tmp_path / "in", tmp_path / "out", should_stop=lambda: False)  # the run after works
    assert len(result.written) == 3
