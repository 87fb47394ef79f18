"""Batch loaders for users: one statement per batch, results in key order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from bookit_graphql.context import Loader
from bookit_graphql.users.models import User


class UsersByIdLoader(Loader[uuid.UUID, User | None]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[User | None]:
        async with self.session_factory() as session:
            rows = await session.scalars(select(User).where(User.id.in_(keys)))
            found = {user.id: user for user in rows}
        return [found.get(key) for key in keys]
