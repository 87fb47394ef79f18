"""GraphQL types of accounts and auth."""

from __future__ import annotations

from datetime import datetime

import strawberry

from bookit_graphql.pagination import Connection
from bookit_graphql.permissions import Role
from bookit_graphql.users import auth, models


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(
            id=strawberry.ID(str(row.id)),
            email=row.email,
            full_name=row.full_name,
            role=row.role,
            is_active=row.is_active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


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
            user=User.from_row(tokens.user),
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
