"""Mutations of accounts: auth, the caller's profile, and admin user management."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from strawberry.types import Info

from bookit_graphql.config import Settings
from bookit_graphql.context import Context
from bookit_graphql.errors import Unauthenticated
from bookit_graphql.permissions import admin_only, authenticated
from bookit_graphql.ratelimit import RateLimit
from bookit_graphql.scalars import parse_id
from bookit_graphql.users import auth, service
from bookit_graphql.users.types import (
    AuthPayload,
    LoginInput,
    RegisterInput,
    UpdateMeInput,
    UpdateUserInput,
    User,
)


def _email(settings: Settings, arguments: dict[str, Any]) -> str:
    return str(arguments["input"].email).strip().lower()


def _session(settings: Settings, arguments: dict[str, Any]) -> uuid.UUID | None:
    # only a token whose signature verifies: a forged one cannot spend a victim's attempts
    return auth.session_of(settings, arguments["refresh_token"])


@strawberry.type
class UserMutations:
    @strawberry.mutation(
        description="Create an account and log in.",
        extensions=[RateLimit(account=_email, rate=lambda s: s.rate_limit_register)],
    )
    async def register(self, info: Info[Context, None], input: RegisterInput) -> AuthPayload:
        ctx = info.context
        async with ctx.session_factory.begin() as session:
            tokens = await auth.register(
                session,
                settings=ctx.settings,
                email=input.email,
                password=input.password,
                full_name=input.full_name,
            )
        return AuthPayload.from_tokens(tokens)

    @strawberry.mutation(
        description="Log in with email and password.",
        # per email, only wrong passwords count: the owner's successes do not
        extensions=[
            RateLimit(account=_email, rate=lambda s: s.rate_limit_login, failures_only=True)
        ],
    )
    async def login(self, info: Info[Context, None], input: LoginInput) -> AuthPayload:
        ctx = info.context
        async with ctx.session_factory.begin() as session:
            tokens = await auth.login(
                session, settings=ctx.settings, email=input.email, password=input.password
            )
        return AuthPayload.from_tokens(tokens)

    @strawberry.mutation(
        description="Trade a refresh token for new tokens; the old one stops working.",
        extensions=[RateLimit(account=_session, rate=lambda s: s.rate_limit_refresh)],
    )
    async def refresh_token(self, info: Info[Context, None], refresh_token: str) -> AuthPayload:
        ctx = info.context
        async with ctx.session_factory.begin() as session:
            tokens = await auth.rotate(session, settings=ctx.settings, refresh_token=refresh_token)
        if tokens is None:  # refused after the commit, so a revoked family stays revoked
            raise Unauthenticated("The refresh token is invalid, expired or revoked.")
        return AuthPayload.from_tokens(tokens)

    @strawberry.mutation(
        description="End a session: the refresh token's family, or without one the caller's "
        "current session. Its access tokens stop working at once."
    )
    async def logout(self, info: Info[Context, None], refresh_token: str | None = None) -> bool:
        ctx = info.context
        async with ctx.session_factory.begin() as session:
            await auth.logout(
                session,
                settings=ctx.settings,
                refresh_token=refresh_token,
                current_session=ctx.session_id,
            )
        return True

    @strawberry.mutation(extensions=authenticated(), description="Change the caller's profile.")
    async def update_me(self, info: Info[Context, None], input: UpdateMeInput) -> User:
        ctx = info.context
        assert ctx.user is not None
        async with ctx.session_factory.begin() as session:
            user = await service.update_me(
                session,
                settings=ctx.settings,
                user_id=ctx.user.id,
                session_id=ctx.session_id,
                full_name=input.full_name,
                email=input.email,
                current_password=input.current_password,
                new_password=input.new_password,
            )
        return User.of(user)

    @strawberry.mutation(extensions=admin_only(), description="Change a user's role or activity.")
    async def update_user(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateUserInput
    ) -> User:
        ctx = info.context
        assert ctx.user is not None
        async with ctx.session_factory.begin() as session:
            user = await service.update_user(
                session,
                actor=ctx.user,
                user_id=parse_id(id),
                role=input.role,
                is_active=input.is_active,
                full_name=input.full_name,
            )
        return User.of(user)
