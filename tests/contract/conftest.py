"""The ``backend`` fixture: every contract test runs once per backend.

A test that needs a capability says so with ``@pytest.mark.requires("write")``;
the fixture skips it only for a backend that lacks that capability by design
(ICS cannot write, has no expiring cursor and no HTTP to fail), naming why.
That is a capability flag, not a way to make a failing test pass: a backend
that claims a capability runs every test that needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.harness import BACKENDS, HARNESSES, Harness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*capabilities): the contract test needs these backend capabilities"
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """A started backend with an empty calendar; ``backend.seed()`` puts the history on it."""
    harness = HARNESSES[request.param](tmp_path)
    marker = request.node.get_closest_marker("requires")
    for capability in marker.args if marker else ():
        if capability not in harness.capabilities:
            pytest.skip(f"{harness.name}: {harness.lacks[capability]}")
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()
