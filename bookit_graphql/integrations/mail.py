"""Where mail goes: an SMTP server (BOOKIT_SMTP_URL), or `.eml` files in development."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from bookit_graphql.config import Settings


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    """smtp:// (STARTTLS when the server offers it, and required with a password unless
    the server is on this machine) or smtps:// (TLS from the start).

    The server's certificate is always verified: against the system's trust store,
    and `ca_file` (BOOKIT_SMTP_CA_FILE) too when given.
    """

    url: str
    timeout: float = 30.0
    ca_file: str | None = None

    async def send(self, message: EmailMessage) -> None:
        parts = urlsplit(self.url)
        tls = parts.scheme == "smtps"
        host = parts.hostname or "localhost"
        await aiosmtplib.send(
            message,
            hostname=host,
            port=parts.port or (465 if tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=tls,
            # a password crosses the network only encrypted: over smtp:// to another
            # host, STARTTLS is required (a server without it is refused before the
            # login); a relay on this machine may take it in clear, as Go's net/smtp allows
            start_tls=True if not tls and parts.password and not loopback(host) else None,
            validate_certs=True,
            cert_bundle=self.ca_file,
            timeout=self.timeout,
        )


def loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class FileMailer:
    """Each message as `<folder>/<Message-ID>.eml`: open it in a mail client."""

    folder: Path

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", str(message["Message-ID"]).strip("<>"))
        final = self.folder / f"{name}.eml"
        partial = final.with_suffix(".eml.partial")
        partial.write_bytes(message.as_bytes())
        os.replace(partial, final)  # a reader never sees half a message


def mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, ca_file=settings.smtp_ca_file)
    return FileMailer(settings.data_dir / "mail")
