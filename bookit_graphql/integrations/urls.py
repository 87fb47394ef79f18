"""Webhook URLs: https in production, and never an internal address unless allowed (SSRF)."""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

from bookit_graphql.errors import BadUserInput

MAX_URL = 2000


class Refused(Exception):
    """The URL may not be called (its message says why)."""


def check_form(url: str, *, production: bool) -> str:
    """The URL if its form is acceptable, else BAD_USER_INPUT on `url`."""
    url = url.strip()
    parts = urlsplit(url)
    schemes = ("https",) if production else ("https", "http")
    if len(url) > MAX_URL or parts.scheme not in schemes or not parts.hostname:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise BadUserInput(f"A webhook URL is an {allowed} URL with a host.", field="url")
    if parts.username or parts.password:
        raise BadUserInput("A webhook URL carries no user or password.", field="url")
    try:
        _ = parts.port
    except ValueError as error:
        raise BadUserInput("The webhook URL's port is not a number.", field="url") from error
    return url


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_address(url: str, *, allow_private: bool) -> str:
    """Resolve the URL's host: the address to connect to, or Refused if the host
    cannot be resolved or names an internal address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await _resolve(host, port)
    except (OSError, UnicodeError) as error:
        raise Refused(f"cannot resolve {host}") from error
    if not addresses:
        raise Refused(f"cannot resolve {host}")
    if not allow_private:
        for address in addresses:
            if _internal(address):
                raise Refused(f"{host} resolves to {address}, an internal address")
    return addresses[0]


# -- connecting to the checked address (DNS rebinding) -------------------------------

# host -> the address check_address approved, for the attempt running in this task
_pinned: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "pinned", default=None
)


def pin(host: str, address: str) -> contextvars.Token[dict[str, str] | None]:
    """Connections to `host` made in this task go to `address` (undo with unpin)."""
    return _pinned.set({host: address})


def unpin(token: contextvars.Token[dict[str, str] | None]) -> None:
    _pinned.reset(token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to the pinned address instead of resolving the name again.

    httpcore still sends the URL's host in `Host` and as TLS SNI, and checks the
    certificate against it: only where the bytes go changes. A name without a pin
    is refused, so nothing reaches the network unchecked.
    """

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = (_pinned.get() or {}).get(host.strip("[]"))
        if address is None:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        return await self._backend.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks do not go to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def pinned_client(*, timeout: float) -> httpx.AsyncClient:
    """An HTTP client whose connections go only to pinned (checked) addresses.

    No redirects (each hop would need a check), and no proxies from the
    environment (a proxy would resolve the name itself).
    """
    transport = httpx.AsyncHTTPTransport()
    # httpx offers no network backend option; its pool is httpcore's, which does
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(), network_backend=PinnedBackend()
    )
    return httpx.AsyncClient(
        transport=transport, follow_redirects=False, timeout=timeout, trust_env=False
    )


async def check(url: str, *, production: bool, allow_private: bool) -> str:
    """check_form and check_address, as BAD_USER_INPUT: for the mutations."""
    url = check_form(url, production=production)
    try:
        await check_address(url, allow_private=allow_private)
    except Refused as refused:
        raise BadUserInput(
            f"The webhook URL is refused: {refused} "
            "(BOOKIT_WEBHOOKS_ALLOW_PRIVATE=true allows internal addresses).",
            field="url",
        ) from refused
    return url
