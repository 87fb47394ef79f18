"""The session's app caches documents that a test registered: forget them with its rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def forget_documents(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "app" in request.fixturenames:
        request.getfixturevalue("app").state.documents._cache.clear()
