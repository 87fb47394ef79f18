"""The per-request Context: the caller, the session factory and the loaders."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from starlette.responses import Response

from bookit_graphql.config import Settings
from bookit_graphql.db import Check, Reads
from bookit_graphql.hub import Hub
from bookit_graphql.ratelimit import RateLimiter

if TYPE_CHECKING:
    from bookit_graphql.users.models import User

K = TypeVar("K")
V = TypeVar("V")


class Loader(DataLoader[K, V]):
    """A request's batch loader: each batch opens its own short session.

    Sibling fields resolve concurrently, and one AsyncSession must not be
    shared between concurrent tasks.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self.session_factory = session_factory


L = TypeVar("L", bound=Loader[Any, Any])


@dataclass
class Context:
    request: HTTPConnection
    response: Response | None
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    reads: Reads  # single-statement reads without a session (compiled.py)
    rate_limiter: RateLimiter | None = None  # None: BOOKIT_RATE_LIMIT=off
    hub: Hub | None = None  # this process's LISTEN connection (subscriptions)
    user: User | None = None
    session_id: uuid.UUID | None = None  # the caller's refresh-token family
    # The caller presumed as its session was last found (users.auth.presumed) and the
    # check that its first read runs (db.Check); None: `user` was read afresh. Only
    # where `presume` is set (the fast path, which answers nothing before it passed).
    check: Check | None = None
    presume: bool = False
    request_id: str = "-"
    log: dict[str, Any] = field(default_factory=dict)  # this request's log record
    # compiled.py's values as orjson.Fragment (their JSON text, encoded as it is) rather
    # than decoded: true over HTTP, where nothing reads the result before orjson writes it
    fragments: bool = False
    connection_params: dict[str, Any] | None = None  # a WebSocket's connection_init payload
    closing: list[Callable[[], None]] = field(default_factory=list)  # run when a socket ends
    _loaders: dict[type[Any], Any] = field(default_factory=dict)

    def loader(self, cls: type[L]) -> L:
        """This request's instance of a loader class (made on first use)."""
        found = self._loaders.get(cls)
        if found is None:
            found = self._loaders[cls] = cls(self.session_factory)
        return cast(L, found)

    def clear_loaders(self) -> None:
        """Forget loaded objects: a subscription reads afresh for each event."""
        self._loaders.clear()
