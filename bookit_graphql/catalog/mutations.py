"""Mutations of catalog."""

from __future__ import annotations

import strawberry


@strawberry.type
class CatalogMutations:
    pass
