"""Bootstrapping: the first admin account, created from the command line."""

from __future__ import annotations

from sqlalchemy import select

from bookit_graphql.config import Settings
from bookit_graphql.db import create_engine, create_session_factory
from bookit_graphql.permissions import Role
from bookit_graphql.users.auth import check_full_name, normalize_email
from bookit_graphql.users.models import User
from bookit_graphql.users.passwords import check_length, hash_password


async def create_admin(
    url: str, *, settings: Settings, email: str, password: str, full_name: str
) -> User:
    """Create an admin with this email, or make the existing account an active admin."""
    email = normalize_email(email)
    full_name = check_full_name(full_name)
    check_length(password, field="password")
    password_hash = await hash_password(password, rounds=settings.bcrypt_rounds)
    engine = create_engine(url, pool_size=1)
    try:
        async with create_session_factory(engine).begin() as session:
            user = await session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(email=email, full_name=full_name, password_hash=password_hash)
                session.add(user)
            user.role, user.is_active, user.password_hash = Role.ADMIN, True, password_hash
            await session.flush()
            return user
    finally:
        await engine.dispose()
