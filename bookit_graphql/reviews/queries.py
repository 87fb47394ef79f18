"""Query fields of reviews."""

from __future__ import annotations

import strawberry


@strawberry.type
class ReviewQueries:
    pass
