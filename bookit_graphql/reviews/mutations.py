"""Mutations of reviews."""

from __future__ import annotations

import strawberry


@strawberry.type
class ReviewMutations:
    pass
