"""Batch loaders of the catalogue: one statement per batch, results in key order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bookit_graphql.catalog.models import Service
from bookit_graphql.context import Loader


class ServicesByIdLoader(Loader[uuid.UUID, Service | None]):
    """Services whatever their state: a booking keeps showing its deactivated service."""

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Service | None]:
        async with self.session_factory() as session:
            found = {
                s.id: s for s in await session.scalars(select(Service).where(Service.id.in_(keys)))
            }
        return [found.get(key) for key in keys]


@dataclass(frozen=True)
class SlotQuery:
    service_id: uuid.UUID
    duration_minutes: int
    start: datetime
    end: datetime
    step_minutes: int
