"""The ``backend`` fixture: every contract test runs once per backend.

A test that needs a capability says so with ``@pytest.mark.requires("write")``;
it is then generated only for the backends that have the capability (ICS
cannot write, has no expiring cursor and no HTTP to fail: see each harness's
``lacks``). Nothing is skipped: a backend that claims a capability runs every
test that needs it, and one that lacks it never pretends to.
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("requires")
    needed = set(marker.args) if marker else set()
    names = [name for name in BACKENDS if needed <= HARNESSES[name].capabilities]
    metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """A started backend with an empty calendar; ``backend.seed()`` puts the history on it."""
    harness = HARNESSES[request.param](tmp_path)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()
