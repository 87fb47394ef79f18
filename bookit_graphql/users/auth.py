"""Registration, login, token rotation, logout, and who a bearer token is."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bookit_graphql.config import Settings
from bookit_graphql.db import Check, Reads
from bookit_graphql.errors import AlreadyExists, BadUserInput, InvalidToken, Unauthenticated
from bookit_graphql.permissions import Role
from bookit_graphql.users import tokens
from bookit_graphql.users.models import AuthSession, User
from bookit_graphql.users.passwords import (
    check_length,
    cost_of,
    hash_password,
    verify_password,
)

WRONG_CREDENTIALS = "Wrong email or password."
RIGHTS_CHANGED = "bookit_rights_changed"  # NOTIFY channel: a user's sessions or role changed
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token lives
    user: User


def normalize_email(email: str, *, field: str = "email") -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise BadUserInput("Not a valid email address.", field=field)
    return email


def check_full_name(full_name: str, *, field: str = "fullName") -> str:
    full_name = full_name.strip()
    if not 1 <= len(full_name) <= 200:
        raise BadUserInput("A full name is 1 to 200 characters.", field=field)
    return full_name


async def register(
    session: AsyncSession, *, settings: Settings, email: str, password: str, full_name: str
) -> Tokens:
    email = normalize_email(email)
    full_name = check_full_name(full_name)
    check_length(password, field="password")
    password_hash = await hash_password(password, rounds=settings.bcrypt_rounds)
    user_id = await session.scalar(
        insert(User)
        .values(id=uuid.uuid4(), email=email, password_hash=password_hash, full_name=full_name)
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(User.id)
    )
    if user_id is None:
        raise AlreadyExists("This email is already registered.", field="email")
    user = await session.get_one(User, user_id)
    return await start_session(session, settings=settings, user=user)


async def login(session: AsyncSession, *, settings: Settings, email: str, password: str) -> Tokens:
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    matches = await verify_password(
        password, user.password_hash if user else None, rounds=settings.bcrypt_rounds
    )
    if user is None or not matches or not user.is_active:
        raise Unauthenticated(WRONG_CREDENTIALS)
    if cost_of(user.password_hash) != settings.bcrypt_rounds:
        await _rehash(session, settings=settings, user=user, password=password)
    return await start_session(session, settings=settings, user=user)


async def _rehash(session: AsyncSession, *, settings: Settings, user: User, password: str) -> None:
    """Store the password hashed at BCRYPT_ROUNDS, unless it changed meanwhile.

    The update compares the old hash: a password changed by a concurrent request
    wins, and the login goes on either way.
    """
    fresh = await hash_password(password, rounds=settings.bcrypt_rounds)
    await session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .values(password_hash=fresh)
        .execution_options(synchronize_session=False)
    )


async def start_session(session: AsyncSession, *, settings: Settings, user: User) -> Tokens:
    session_id = uuid.uuid4()
    refresh, claims = tokens.issue(settings, kind="refresh", user_id=user.id, session_id=session_id)
    session.add(
        AuthSession(
            id=session_id, user_id=user.id, refresh_jti=claims.jti, expires_at=claims.expires_at
        )
    )
    await session.flush()
    return _tokens(settings, user, session_id, refresh)


async def rotate(session: AsyncSession, *, settings: Settings, refresh_token: str) -> Tokens | None:
    """New tokens for a valid refresh token; None if refused.

    Presenting a refresh token that was already rotated away means that two
    parties hold the family (theft): the whole family is revoked. The caller
    commits and then refuses, so the revocation sticks.
    """
    claims = tokens.decode(settings, refresh_token, kind="refresh")
    new_refresh, new_claims = tokens.issue(
        settings, kind="refresh", user_id=claims.user_id, session_id=claims.session_id
    )
    # Compare-and-swap on the current jti: of two concurrent rotations, one wins.
    rotated = await session.scalar(
        update(AuthSession)
        .where(
            AuthSession.id == claims.session_id,
            AuthSession.user_id == claims.user_id,
            AuthSession.refresh_jti == claims.jti,
            AuthSession.revoked_at.is_(None),
        )
        .values(refresh_jti=new_claims.jti, expires_at=new_claims.expires_at)
        .returning(AuthSession.id)
    )
    user = await session.get(User, claims.user_id)
    if rotated is None or user is None or not user.is_active:
        await revoke_session(session, session_id=claims.session_id)
        return None
    return _tokens(settings, user, claims.session_id, new_refresh)


def session_of(settings: Settings, refresh_token: str) -> uuid.UUID | None:
    """The session of a refresh token whose signature verifies; None for any other."""
    try:
        return tokens.decode(settings, refresh_token, kind="refresh").session_id
    except InvalidToken:
        return None


async def revoke_session(session: AsyncSession, *, session_id: uuid.UUID) -> None:
    user_id = await session.scalar(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(AuthSession.user_id)
    )
    if user_id is not None:
        await notify_rights_changed(session, user_id=user_id)


async def revoke_all_sessions(
    session: AsyncSession, *, user_id: uuid.UUID, keep: uuid.UUID | None = None
) -> None:
    query = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    await session.execute(query.values(revoked_at=func.now()))
    await notify_rights_changed(session, user_id=user_id)


async def notify_rights_changed(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Tell every instance, on commit, to re-check this user's open WebSockets."""
    await session.execute(select(func.pg_notify(RIGHTS_CHANGED, str(user_id))))


async def logout(
    session: AsyncSession,
    *,
    settings: Settings,
    refresh_token: str | None,
    current_session: uuid.UUID | None,
) -> None:
    if refresh_token is not None:
        claims = tokens.decode(settings, refresh_token, kind="refresh")
        await revoke_session(session, session_id=claims.session_id)
    elif current_session is not None:
        await revoke_session(session, session_id=current_session)
    else:
        raise Unauthenticated("Log out needs a refresh token or an access token.")


# The active user behind an access token's claims, if the token's session is live
# (no password hash: a request's user carries none). Its parameters are named apart
# from any other read's, which it may join (db.Check).
WHO = """
SELECT u.id, u.email, u.full_name, u.role, u.is_active, u.created_at, u.updated_at
FROM users u JOIN auth_sessions a ON a.user_id = u.id
WHERE u.id = %(who_user__)s AND u.is_active AND a.id = %(who_session__)s
  AND a.revoked_at IS NULL
"""
WHO_COLUMNS = ("id", "email", "full_name", "role", "is_active", "created_at", "updated_at")

# WHO's row for each (user, session) it last found live, in this process: a request
# may presume its caller is still that (`presumed`) and have its first read check it.
_SEEN: dict[tuple[uuid.UUID, uuid.UUID], tuple[object, ...]] = {}
MAX_SEEN = 10_000


async def authenticate(
    reads: Reads, *, settings: Settings, access_token: str
) -> tuple[User, tokens.Claims]:
    """The active user behind a live access token, and its claims; or InvalidToken.

    Every authenticated request asks this, so it is one plain read (db.Reads),
    and the user a transient row, in no session.
    """
    claims = tokens.decode(settings, access_token, kind="access")
    key = (claims.user_id, claims.session_id)
    row = await reads.row(WHO, _who(claims))
    if row is None:
        _SEEN.pop(key, None)
        raise InvalidToken()
    if len(_SEEN) >= MAX_SEEN:
        _SEEN.clear()
    seen = _SEEN[key] = tuple(row.values())  # WHO_COLUMNS
    return _user(seen), claims


def presumed(settings: Settings, access_token: str) -> tuple[User, tokens.Claims, Check] | None:
    """The user behind an access token as its session was last found live here, its claims,
    and the check that it still is (db.Check: the request's first read runs it); None if
    it was not found here before. InvalidToken for a token that is not valid.

    A session revoked (or a user changed) since is found by that check, in the same
    snapshot as the read: the request is then answered as `authenticate` answers it.
    """
    claims = tokens.decode(settings, access_token, kind="access")
    row = _SEEN.get((claims.user_id, claims.session_id))
    if row is None:
        return None
    return _user(row), claims, Check(WHO, _who(claims), row)


def _who(claims: tokens.Claims) -> dict[str, uuid.UUID]:
    return {"who_user__": claims.user_id, "who_session__": claims.session_id}


def _user(row: tuple[object, ...]) -> User:
    found: dict[str, Any] = dict(zip(WHO_COLUMNS, row, strict=True))
    return User(**{**found, "role": Role(found["role"])})


def _tokens(settings: Settings, user: User, session_id: uuid.UUID, refresh: str) -> Tokens:
    access, _ = tokens.issue(settings, kind="access", user_id=user.id, session_id=session_id)
    lifetime = tokens.lifetime(settings, "access")
    return Tokens(access, refresh, int(lifetime.total_seconds()), user)
