"""Query fields of catalog."""

from __future__ import annotations

import strawberry


@strawberry.type
class CatalogQueries:
    pass
