"""Fixtures of the framework tests (the servers themselves are module fixtures of each test file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.frameworks.support import DJANGO_SITE, migrate, require_module


@pytest.fixture(scope="session")
def django_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database for the Django test site (one per xdist worker)."""
    require_module("django")
    database = tmp_path_factory.mktemp("django") / "db.sqlite3"
    migrate(DJANGO_SITE, {"FAYE_DJANGO_DB": str(database)})
    return database
