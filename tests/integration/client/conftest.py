"""Fixtures of the client's integration tests: no proxy from the machine's environment."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(no_proxy_environment: None) -> None:
    """Every client test reaches its servers directly unless it names (or sets) a proxy itself."""
