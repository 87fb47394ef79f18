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


# Tokens verified before, with their claims, until they expire: a client sends the
# same access token with every request, and PyJWT's checks of it cost some 100 µs a
# time. Only the signature and claims are remembered; whether the session is still
# live (revocation) is the caller's read, every time (auth.authenticate).
_VERIFIED: dict[tuple[str, Kind, str, str, str], Claims] = {}
MAX_VERIFIED = 10_000


def decode(settings: Settings, token: str, *, kind: Kind) -> Claims:
    """The claims of a valid token of this kind; InvalidToken for anything else."""
    if kind != "access":  # refreshes are rare: checked in full each time
        return _decode(settings, token, kind=kind)
    key = (token, kind, settings.secret_key, settings.jwt_issuer, settings.jwt_audience)
    claims = _VERIFIED.get(key)
    if claims is None:
        claims = _decode(settings, token, kind=kind)
        if len(_VERIFIED) >= MAX_VERIFIED:
            _VERIFIED.clear()
        _VERIFIED[key] = claims
    # PyJWT's own rule: expired from its `exp` on (the `iat` it checked stays in the past)
    if datetime.now(UTC) >= claims.expires_at:
        _VERIFIED.pop(key, None)
        raise InvalidToken()
    return claims


def _decode(settings: Settings, token: str, *, kind: Kind) -> Claims:
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
