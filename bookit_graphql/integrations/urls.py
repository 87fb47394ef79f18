"""Webhook URLs: https in production, and never an internal address unless allowed (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

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


async def check_address(url: str, *, allow_private: bool) -> None:
    """Resolve the URL's host: Refused if it cannot be, or names an internal address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"cannot resolve {host}") from error
    if allow_private:
        return
    for info in infos:
        address = str(info[4][0])
        if _internal(address):
            raise Refused(f"{host} resolves to {address}, an internal address")


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
