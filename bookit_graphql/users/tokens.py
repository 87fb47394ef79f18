"""JWT access and refresh tokens: HS256 pinned, typed, with issuer and audience."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from bookit_graphql.config import Settings
from bookit_graphql.errors import InvalidToken

ALGORITHM = "HS256"
Kind = Literal["access", "refresh"]


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    jti: uuid.UUID
    kind: Kind
    expires_at: datetime


def lifetime(settings: Settings, kind: Kind) -> timedelta:
    if kind == "access":
        return timedelta(minutes=settings.access_token_expire_minutes)
    return timedelta(days=settings.refresh_token_expire_days)


def issue(
    settings: Settings, *, kind: Kind, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[str, Claims]:
    now = datetime.now(UTC)
    claims = Claims(user_id, session_id, uuid.uuid4(), kind, now + lifetime(settings, kind))
    payload = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": str(claims.jti),
        "typ": kind,
        "iat": now,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM), claims


def decode(settings: Settings, token: str, *, kind: Kind) -> Claims:
    """The claims of a valid token of this kind; InvalidToken for anything else."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
        )
        if payload.get("typ") != kind:
            raise InvalidToken()
        return Claims(
            user_id=uuid.UUID(payload["sub"]),
            session_id=uuid.UUID(payload["sid"]),
            jti=uuid.UUID(payload["jti"]),
            kind=kind,
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
        raise InvalidToken() from error
