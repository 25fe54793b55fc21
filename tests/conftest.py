"""Fixtures shared by the CLI tests (tests/) and the napari tests (tests/napari)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def scheduler():
    """The address of a running 2-worker Dask scheduler (as a user's cluster would be), for one test module."""
    pytest.importorskip("distributed")
    from napari_medai.core.cohort import start_client

    client, cluster = start_client(None, workers=2, dashboard_address=":0")
    yield cluster.scheduler_address
    client.close()
    cluster.close()
