"""Profiles and the admin's user management."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bookit_graphql.config import Settings
from bookit_graphql.db import contains_pattern
from bookit_graphql.errors import AlreadyExists, BadUserInput, InvalidState, NotFound
from bookit_graphql.pagination import Listing, filtered
from bookit_graphql.permissions import Role
from bookit_graphql.users.auth import (
    check_full_name,
    normalize_email,
    notify_rights_changed,
    revoke_all_sessions,
)
from bookit_graphql.users.models import User
from bookit_graphql.users.passwords import check_length, hash_password, verify_password


async def update_me(
    session: AsyncSession,
    *,
    settings: Settings,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    full_name: str | None = None,
    email: str | None = None,
    current_password: str | None = None,
    new_password: str | None = None,
) -> User:
    """Change the caller's profile; a new email or password needs the current password.

    A new password ends every other session of the account.
    """
    user = await session.get_one(User, user_id, with_for_update=True)
    if full_name is not None:
        user.full_name = check_full_name(full_name)
    if email is not None or new_password is not None:
        if new_password is not None:
            check_length(new_password, field="newPassword")
        if current_password is None or not await verify_password(
            current_password, user.password_hash, rounds=settings.bcrypt_rounds
        ):
            raise BadUserInput("The current password is wrong.", field="currentPassword")
    if email is not None:
        email = normalize_email(email)
        taken = await session.scalar(select(User.id).where(User.email == email, User.id != user.id))
        if taken is not None:
            raise AlreadyExists("This email is already registered.", field="email")
        user.email = email
    if new_password is not None:
        user.password_hash = await hash_password(new_password, rounds=settings.bcrypt_rounds)
        await revoke_all_sessions(session, user_id=user.id, keep=session_id)
    await session.flush()
    return user


def users_listing(*, q: str | None, role: Role | None, is_active: bool | None) -> Listing:
    """Users, oldest first, filtered by text (email, name), role and activity."""
    filters: dict[str, Any] = {}
    if q:
        filters["q"] = contains_pattern(q)
    if role is not None:
        filters["role"] = role
    if is_active is not None:
        filters["is_active"] = is_active
    return Listing(_users_query(tuple(filters)), [User.created_at, User.id], filters)


@functools.cache
def _users_query(names: tuple[str, ...]) -> Select[Any]:
    """One query object per set of filters, their values as parameters (see Listing)."""
    tests: dict[str, Callable[[Any], ColumnElement[bool]]] = {
        "q": lambda pattern: or_(
            User.email.ilike(pattern, escape="\\"), User.full_name.ilike(pattern, escape="\\")
        ),
        "role": User.role.__eq__,
        "is_active": User.is_active.__eq__,
    }
    return filtered(select(User), tests, names)


async def update_user(
    session: AsyncSession,
    *,
    actor: User,
    user_id: uuid.UUID | None,
    role: Role | None = None,
    is_active: bool | None = None,
    full_name: str | None = None,
) -> User:
    """An admin changes a user's role, activity or name; deactivation ends their sessions."""
    user = await session.get(User, user_id, with_for_update=True) if user_id else None
    if user is None:
        raise NotFound("No such user.")
    if user.id == actor.id and (role == Role.USER or is_active is False):
        raise InvalidState("Admins cannot demote or deactivate themselves.")
    if full_name is not None:
        user.full_name = check_full_name(full_name)
    if role is not None and role != user.role:
        user.role = role
        await notify_rights_changed(session, user_id=user.id)
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            await revoke_all_sessions(session, user_id=user.id)
    await session.flush()
    return user
