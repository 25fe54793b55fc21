from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest


def write_nifti(path, data_kji: np.ndarray, affine_ras: np.ndarray) -> str:
    """Write array given in napari-medai array order (k, j, i) as NIfTI (i, j, k)."""
    img = nib.Nifti1Image(np.ascontiguousarray(np.transpose(data_kji)), affine_ras)
    img.set_qform(affine_ras, code=1)
    img.set_sform(affine_ras, code=1)
    nib.save(img, str(path))
    return str(path)


@pytest.fixture
def cube_pair(tmp_path):
    """An anisotropic, oblique image with a bright cube and its label file on the same grid."""
    shape = (20, 40, 48)  # k, j, i
    img = np.zeros(shape, np.float32)
    img[6:14, 10:26, 14:34] = 1000.0
    lab = (img > 0).astype(np.uint8)
    theta = np.deg2rad(20)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.8, 1.1, 2.5])
    aff[:3, 3] = [-20.0, 15.0, 7.5]
    p_img = write_nifti(tmp_path / "case_t1.nii.gz", img, aff)
    p_lab = write_nifti(tmp_path / "case_seg.nii.gz", lab, aff)
    return p_img, p_lab, aff


@pytest.fixture(autouse=True)
def _drain_qt_thread_pool():
    """Let every worker thread of a test finish before the next test (and before exit)."""
    yield
    from qtpy.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(30000)


@pytest.fixture(autouse=True)
def _gui_gap_monitor(request):
    """With MEDAI_GUI_GAPS=FILE, time how long the GUI thread froze in each journey step (see journey.py)."""
    import os

    if not os.environ.get("MEDAI_GUI_GAPS"):
        yield
        return
    from . import journey

    journey.start_monitor(request.node.nodeid)
    yield
    from napari_medai._napari.long_lived import release_removed_layers

    release_removed_layers()  # the closed viewer's frozen layers: freed in the teardown's window, not the next test's
    journey.stop_monitor()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """When the test body returns, the GUI gap monitor starts a "teardown" window: closing the viewer is
    the fixture's work, reported apart from the last user step."""
    yield
    import os

    if os.environ.get("MEDAI_GUI_GAPS"):
        from . import journey

        journey.teardown()
