"""A real webhook receiver on 127.0.0.1 that verifies with the `standardwebhooks` library,
a real SMTP server (aiosmtpd), and a worker driven by the test."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bookit_graphql.config import Settings
from bookit_graphql.integrations.worker import Worker


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    verified: dict[str, bool]  # secret -> whether the library accepted the request with it

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; answers what `script[path]` says next (200 when empty)."""

    base: str
    received: list[Received] = field(default_factory=list)
    secrets: dict[str, list[str]] = field(default_factory=dict)  # path -> secrets to try
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # a path whose requests wait for the event before they are answered
    hold: dict[str, threading.Event] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)  # requests that were held
    # seconds that the next requests to a path sleep before answering (a slow receiver)
    delays: dict[str, list[float]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length).decode()
            headers = {k.lower(): v for k, v in self.headers.items()}
            me = holder["receiver"]
            held = me.hold.get(self.path)
            if held is not None:
                with me.lock:
                    me.waiting[self.path] = me.waiting.get(self.path, 0) + 1
                held.wait(30)
            with me.lock:
                pending = me.delays.get(self.path) or []
                delay = pending.pop(0) if pending else 0.0
            time.sleep(delay)
            verified = {}
            for secret in me.secrets.get(self.path, []):
                try:
                    Webhook(secret).verify(body, headers)
                    verified[secret] = True
                except WebhookVerificationError:
                    verified[secret] = False
            with me.lock:
                me.received.append(Received(self.path, headers, body, verified))
                answers = me.script.get(self.path) or []
                status, extra = answers.pop(0) if answers else (200, {})
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["receiver"]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def worker(
    settings: Settings, db: async_sessionmaker[AsyncSession], tmp_path: Any
) -> AsyncIterator[Worker]:
    """A worker that the test drives (`await worker.drain()`); mail as files in tmp_path."""
    from bookit_graphql.integrations.mail import FileMailer

    found = Worker(settings, db, mail=FileMailer(tmp_path / "mail"))
    await found.open()
    yield found
    await found.stop()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()
