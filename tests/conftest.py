"""Shared test configuration: integration tests are marked; unit tests need no processes."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything under tests/integration is an integration test even if a module forgot the mark,
    # so `-m "not integration"` really selects only tests that start no processes.
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
