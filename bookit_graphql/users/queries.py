"""Query fields of accounts: `me`, and `users` for admins."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from bookit_graphql import compiled
from bookit_graphql.context import Context
from bookit_graphql.permissions import admin_only, authenticated
from bookit_graphql.users import service
from bookit_graphql.users.types import User, UserConnection, UserFilter


@strawberry.type
class UserQueries:
    @strawberry.field(extensions=authenticated(), description="The caller's profile.")
    def me(self, info: Info[Context, None]) -> User:
        assert info.context.user is not None  # guaranteed by @authenticated
        return User.of(info.context.user)

    @strawberry.field(extensions=admin_only(), description="Users, oldest first.")
    async def users(
        self,
        info: Info[Context, None],
        filter: UserFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> UserConnection:
        filter = filter or UserFilter()
        listing = service.users_listing(q=filter.q, role=filter.role, is_active=filter.is_active)
        connection: UserConnection = await compiled.connection(
            info, listing, first=first, after=after
        )
        return connection
