"""GraphQL types of accounts and auth."""

from __future__ import annotations

from datetime import datetime

import strawberry

from bookit_graphql import sql
from bookit_graphql.pagination import Connection
from bookit_graphql.permissions import Role
from bookit_graphql.users import auth, models


@strawberry.type
class User(sql.Object[models.User]):
    id: strawberry.ID = sql.column(models.User.id)
    email: str = sql.column(models.User.email)
    full_name: str = sql.column(models.User.full_name)
    role: Role = sql.column(models.User.role)
    is_active: bool = sql.column(models.User.is_active)
    created_at: datetime = sql.column(models.User.created_at)
    updated_at: datetime = sql.column(models.User.updated_at)


UserConnection = Connection[User]


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: User

    @classmethod
    def from_tokens(cls, tokens: auth.Tokens) -> AuthPayload:
        return cls(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            token_type="Bearer",
            expires_in=tokens.expires_in,
            user=User.of(tokens.user),
        )


@strawberry.input
class RegisterInput:
    email: str
    password: str
    full_name: str


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input(description="A new email or password needs `currentPassword`.")
class UpdateMeInput:
    full_name: str | None = None
    email: str | None = None
    current_password: str | None = None
    new_password: str | None = None


@strawberry.input
class UserFilter:
    q: str | None = None
    role: Role | None = None
    is_active: bool | None = None


@strawberry.input
class UpdateUserInput:
    role: Role | None = None
    is_active: bool | None = None
    full_name: str | None = None
