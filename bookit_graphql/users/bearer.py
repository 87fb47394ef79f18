"""Bearer tokens for the view: who one is, and word when that user's rights change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from bookit_graphql.context import Context
from bookit_graphql.hub import Listener
from bookit_graphql.users import auth


@dataclass(eq=False)
class Watch:
    """A WebSocket's claim on a user's session, re-checked when the user's rights change."""

    user_id: uuid.UUID
    recheck: Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Bearer(Listener):
    """The view's authenticator; on the hub, it hears of revoked sessions and changed roles."""

    channel = auth.RIGHTS_CHANGED
    watches: set[Watch] = field(default_factory=set)
    _rechecks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def authenticate(self, context: Context, access_token: str) -> datetime:
        """Make the token's user the caller (or raise InvalidToken); when the token expires.

        Where the context may presume (context.presume), a session found live before is
        taken as it was, with the check that the request's first read runs.
        """
        presumed = auth.presumed(context.settings, access_token) if context.presume else None
        if presumed is not None:
            context.user, claims, context.check = presumed
        else:
            context.user, claims = await auth.authenticate(
                context.reads, settings=context.settings, access_token=access_token
            )
        context.session_id = claims.session_id
        return claims.expires_at

    def watch(
        self, user_id: uuid.UUID, recheck: Callable[[], Coroutine[Any, Any, None]]
    ) -> Callable[[], None]:
        """Run `recheck` when the user's rights change, until the returned function is called."""
        watch = Watch(user_id, recheck)
        self.watches.add(watch)
        return lambda: self.watches.discard(watch)

    async def woken(self, conn: psycopg.AsyncConnection[Any], payloads: list[str]) -> None:
        for payload in payloads:
            for watch in list(self.watches):
                if str(watch.user_id) == payload:
                    task = asyncio.create_task(watch.recheck())
                    self._rechecks.add(task)
                    task.add_done_callback(self._rechecks.discard)
