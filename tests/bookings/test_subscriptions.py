"""bookingChanged over real WebSockets against real server processes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from graphql import OperationType
from starlette.websockets import WebSocketState
from strawberry.http.exceptions import WebSocketDisconnected

from bookit_graphql.bookings.events import Event, EventHub
from bookit_graphql.bookings.models import BookingEventKind
from bookit_graphql.context import Context
from bookit_graphql.db import libpq_url
from bookit_graphql.direct import Direct
from bookit_graphql.hub import LISTENER
from bookit_graphql.users import auth
from tests.bookings.support import (
    DELETE_BOOKING,
    RESCHEDULE_BOOKING,
    SET_BOOKING_STATUS,
    at,
    booked,
)
from tests.bookings.wsclient import Socket
from tests.conftest import SECRET, Server, StatementCounter
from tests.factories import Rows
from tests.helpers import gql, make_admin, register, sign_up

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")


@pytest.fixture
def two_servers(start_server: Callable[..., Server]) -> tuple[Server, Server]:
    return start_server(), start_server()


@pytest.fixture
async def http() -> AsyncIterator[Callable[[Server], httpx.AsyncClient]]:
    clients: dict[str, httpx.AsyncClient] = {}

    def client(server: Server) -> httpx.AsyncClient:
        if server.base not in clients:
            clients[server.base] = httpx.AsyncClient(base_url=server.base, timeout=30)
        return clients[server.base]

    yield client
    for opened in clients.values():
        await opened.aclose()


async def test_changes_made_on_one_instance_reach_a_subscriber_on_another(
    two_servers: tuple[Server, Server],
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
) -> None:
    # given Ann subscribed on server A
    a, b = two_servers
    ann = await register(http(a), "ann@example.com")
    service = await rows.service(title="Massage")
    socket = await Socket.connect(a.ws, ann["accessToken"])
    await socket.subscribe()
    await asyncio.sleep(0.2)  # the subscription is registered before the first change

    # when she books, moves, cancels and deletes through server B
    client, token = http(b), ann["accessToken"]
    created = await booked(client, token, service, at(1))
    await gql(client, RESCHEDULE_BOOKING, {"id": created["id"], "startsAt": at(3)}, token=token)
    await gql(client, SET_BOOKING_STATUS, {"id": created["id"], "status": "CANCELLED"}, token=token)
    await gql(client, DELETE_BOOKING, {"id": created["id"]}, token=token)

    # then server A delivers the four events, in order, each with the booking as it stood
    changes = await socket.changes(4)
    assert [c["kind"] for c in changes] == ["CREATED", "UPDATED", "CANCELLED", "DELETED"]
    assert {c["booking"]["id"] for c in changes} == {created["id"]}
    assert changes[0]["booking"]["startsAt"] == created["startsAt"]
    assert changes[1]["booking"]["startsAt"] == at(3).replace("+00:00", "+00:00")
    assert changes[2]["booking"]["status"] == "CANCELLED"
    assert changes[3]["booking"]["status"] == "CANCELLED"  # as it stood before the deletion
    assert changes[0]["booking"]["service"] == {"id": service, "title": "Massage"}
    assert changes[0]["booking"]["user"]["email"] == "ann@example.com"
    assert changes[0]["occurredAt"].endswith("+00:00")
    cursors = [c["cursor"] for c in changes]
    assert len(set(cursors)) == 4
    await socket.close()


async def test_users_see_their_own_admins_all_and_filters_narrow(
    start_server: Callable[..., Server],
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
    database_url: str,
) -> None:
    server = start_server()
    client = http(server)
    ann = await register(client, "ann@example.com")
    bob = await sign_up(client, "bob@example.com")
    admin = await make_admin(client, database_url, "admin@example.com")
    first, second = await rows.service(title="One"), await rows.service(title="Two")

    ann_socket = await Socket.connect(server.ws, ann["accessToken"])
    await ann_socket.subscribe()
    admin_socket = await Socket.connect(server.ws, admin.token)
    await admin_socket.subscribe(id="all")
    await admin_socket.subscribe(id="second", serviceId=second)
    await asyncio.sleep(0.2)

    bobs = await booked(client, bob.token, first, at(1))
    anns = await booked(client, ann["accessToken"], second, at(1))

    assert (await ann_socket.next_change())["booking"]["id"] == anns["id"]
    assert await ann_socket.nothing_within(0.5)  # never Bob's booking

    seen: dict[str, list[str]] = {"all": [], "second": []}
    for _ in range(3):
        message = await admin_socket.receive()
        seen[message["id"]].append(message["payload"]["data"]["bookingChanged"]["booking"]["id"])
    assert seen == {"all": [bobs["id"], anns["id"]], "second": [anns["id"]]}

    # a booking filter narrows to that booking
    only = await Socket.connect(server.ws, admin.token)
    await only.subscribe(bookingId=bobs["id"])
    await asyncio.sleep(0.2)
    await gql(
        client,
        SET_BOOKING_STATUS,
        {"id": anns["id"], "status": "CANCELLED"},
        token=ann["accessToken"],
    )
    await gql(
        client,
        SET_BOOKING_STATUS,
        {"id": bobs["id"], "status": "CANCELLED"},
        token=bob.token,
    )
    change = await only.next_change()
    assert change["booking"]["id"] == bobs["id"]
    assert change["kind"] == "CANCELLED"
    for socket in (ann_socket, admin_socket, only):
        await socket.close()


# Every field a change can carry, some twice, and Review.booking (a viewer's rule).
RICH_CHANGES = """
subscription Rich($serviceId: ID) {
  bookingChanged(serviceId: $serviceId) {
    __typename cursor kind occurredAt
    booking {
      ...Times
      when: startsAt
      status
      review { id rating comment createdAt booking { id } author { id fullName } }
      service {
        id title description price durationMinutes isActive averageRating reviewCount
        createdAt updatedAt
      }
      user { id email fullName role isActive createdAt updatedAt }
    }
  }
}
fragment Times on Booking { id startsAt endsAt createdAt updatedAt }
"""


async def test_compiled_and_resolved_subscribers_receive_the_same_changes(
    start_server: Callable[..., Server],
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
    database_url: str,
) -> None:
    # given a server that compiles the changes and one that resolves them, and on
    # each, Ann and an admin subscribed with the contract's document and a rich one
    compiled, resolved = start_server(), start_server(BOOKIT_COMPILED_READS="off")
    client = http(compiled)
    ann = await register(client, "ann@example.com")
    admin = await make_admin(client, database_url, "admin@example.com")
    service = await rows.service(title="Massage")
    sockets: dict[tuple[str, str], Socket] = {}
    for server, name in ((compiled, "compiled"), (resolved, "resolved")):
        for who, token in (("ann", ann["accessToken"]), ("admin", admin.token)):
            socket = sockets[name, who] = await Socket.connect(server.ws, token)
            await socket.subscribe("contract")
            await socket.subscribe("rich", query=RICH_CHANGES, serviceId=service)
    await asyncio.sleep(0.3)

    # when Ann books, reschedules and cancels, and the admin deletes the booking
    token = ann["accessToken"]
    mine = await booked(client, token, service, at(1))
    steps = [
        (RESCHEDULE_BOOKING, {"id": mine["id"], "startsAt": at(2)}, token),
        (SET_BOOKING_STATUS, {"id": mine["id"], "status": "CANCELLED"}, token),
        (DELETE_BOOKING, {"id": mine["id"]}, admin.token),
    ]
    received: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in sockets}

    async def collect() -> None:
        # each step's messages before the next step: both servers read the same rows
        for key, socket in sockets.items():
            messages = []
            while len(messages) < 2:
                message = await socket.receive()
                if message["type"] == "next":
                    messages.append(message)
            received[key] += [m["payload"] for m in sorted(messages, key=lambda m: m["id"])]

    await collect()
    for document, variables, who in steps:
        body = await gql(client, document, variables, token=who)
        assert "errors" not in body, body
        await collect()

    # then both servers sent the same messages, in the same order, without errors
    for who in ("ann", "admin"):
        assert received["compiled", who] == received["resolved", who]
        assert all("errors" not in payload for payload in received["compiled", who])
        kinds = [p["data"]["bookingChanged"]["kind"] for p in received["compiled", who]]
        assert kinds == [k for k in ("CREATED", "UPDATED", "CANCELLED", "DELETED") for _ in "ab"]
    for socket in sockets.values():
        await socket.close()


async def test_one_statement_builds_a_change_for_every_subscriber_with_one_selection(
    app: Any,
    client: httpx.AsyncClient,
    statements: StatementCounter,
    rows: Rows,
    database_url: str,
) -> None:
    # given the event hub running and three admins' subscriptions with one document
    hub = app.state.hub
    await hub.start()
    streams: list[Any] = []
    try:
        admin = await make_admin(client, database_url, "admin@example.com")
        settings = app.state.settings
        user, _ = await auth.authenticate(
            app.state.reads, settings=settings, access_token=admin.token
        )
        context = functools.partial(
            Context,
            request=SimpleNamespace(app=app),
            response=None,
            settings=settings,
            session_factory=app.state.session_factory,
            reads=app.state.reads,
            hub=hub,
            user=user,
        )
        schema = app.state.view.schema
        streams = [await schema.subscribe(RICH_CHANGES, context_value=context()) for _ in "abc"]
        waiting = [asyncio.ensure_future(anext(stream)) for stream in streams]
        service = await rows.service(title="Massage")
        ann = await register(client, "ann@example.com")
        await asyncio.sleep(0.3)
        statements.clear()

        # when Ann books
        await booked(client, ann["accessToken"], service, at(1))
        results = await asyncio.wait_for(asyncio.gather(*waiting), 10)

        # then all three receive the change, built by one statement for the three
        assert not any(result.errors for result in results)
        assert [result.data for result in results] == [results[0].data] * 3
        assert results[0].data["bookingChanged"]["booking"]["user"]["email"] == "ann@example.com"
        built = [sql for sql in statements.statements if "json_populate_record" in sql]
        assert len(built) == 1, statements.statements
    finally:
        for stream in streams:
            await stream.aclose()
        await hub.stop()


# One document whose selection depends on a variable: `user` only when asked for.
MAYBE_USER = """
subscription Maybe($serviceId: ID, $withUser: Boolean!) {
  changed: bookingChanged(serviceId: $serviceId) {
    kind booking { id user @include(if: $withUser) { email } }
  }
}
"""


async def test_shared_deliveries_keep_each_subscribers_visibility_and_variables(
    start_server: Callable[..., Server],
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
    database_url: str,
) -> None:
    # given on one server Ann, Bob and two admins, each with the same documents:
    # the rich one, and one with variables that narrow (serviceId) or shape it
    server = start_server()
    client = http(server)
    ann = await register(client, "ann@example.com")
    bob = await sign_up(client, "bob@example.com")
    admin = await make_admin(client, database_url, "admin@example.com")
    other_admin = await make_admin(client, database_url, "root@example.com")
    first, second = await rows.service(title="One"), await rows.service(title="Two")
    subscribed = {
        "ann": (ann["accessToken"], {}),
        "bob": (bob.token, {}),
        "admin": (admin.token, {}),
        "root": (other_admin.token, {}),
        "admin-second": (admin.token, {"serviceId": second}),
    }
    sockets = {}
    for name, (token, variables) in subscribed.items():
        socket = sockets[name] = await Socket.connect(server.ws, token)
        await socket.subscribe("rich", query=RICH_CHANGES, **variables)
        await socket.subscribe("maybe", query=MAYBE_USER, withUser=name != "root", **variables)
    await asyncio.sleep(0.3)

    # when Bob books the first service and Ann the second
    bobs = await booked(client, bob.token, first, at(1))
    anns = await booked(client, ann["accessToken"], second, at(1))

    async def received(name: str, count: int) -> dict[str, list[dict[str, Any]]]:
        by_id: dict[str, list[dict[str, Any]]] = {"rich": [], "maybe": []}
        for _ in range(count):
            message = await sockets[name].receive()
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            by_id[message["id"]].append(message["payload"]["data"])
        assert await sockets[name].nothing_within(0.3)
        return by_id

    # then each user got their own booking only, each admin both, the filter its own
    seen = {name: await received(name, count) for name, count in
            (("ann", 2), ("bob", 2), ("admin", 4), ("root", 4), ("admin-second", 2))}  # fmt: skip
    rich = {name: [d["bookingChanged"]["booking"]["id"] for d in found["rich"]]
            for name, found in seen.items()}  # fmt: skip
    assert rich == {
        "ann": [anns["id"]],
        "bob": [bobs["id"]],
        "admin": [bobs["id"], anns["id"]],
        "root": [bobs["id"], anns["id"]],
        "admin-second": [anns["id"]],
    }
    assert seen["ann"]["rich"][0]["bookingChanged"]["booking"]["user"]["email"] == "ann@example.com"
    assert seen["admin"]["rich"] == seen["root"]["rich"]  # admins share what they see
    # and the variable that shapes the selection shaped each one's own payload
    assert seen["admin"]["maybe"][0] == {
        "changed": {
            "kind": "CREATED",
            "booking": {"id": bobs["id"], "user": {"email": "bob@example.com"}},
        }
    }
    assert seen["root"]["maybe"][0] == {
        "changed": {"kind": "CREATED", "booking": {"id": bobs["id"]}}
    }
    assert seen["admin-second"]["maybe"] == [
        {
            "changed": {
                "kind": "CREATED",
                "booking": {"id": anns["id"], "user": {"email": "ann@example.com"}},
            }
        }
    ]
    for socket in sockets.values():
        await socket.close()


class _Frames:
    """A stand-in for a subscriber's WebSocket: the text frames sent to it, through
    Starlette's WebSocket (send_text) or the server's own send (`send`)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.arrived = asyncio.Event()
        self.application_state = WebSocketState.CONNECTED
        self.pushed = 0  # frames that came through `send`

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        self.arrived.set()

    async def send(self, message: dict[str, Any]) -> None:
        assert message["type"] == "websocket.send"
        self.pushed += 1
        await self.send_text(message["text"])


async def test_one_event_for_50_identical_subscribers_is_built_and_encoded_once(
    app: Any,
    client: httpx.AsyncClient,
    statements: StatementCounter,
    rows: Rows,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the event hub running and 50 admins' graphql-transport-ws operations
    # (each in its own task, with its own socket) with one document
    from bookit_graphql import view
    from bookit_graphql.compiled import Compiler, Executor

    encoded = 0
    encode = Compiler._encode

    async def counted(self: Compiler, value: Any) -> str:
        nonlocal encoded
        encoded += 1
        return await encode(self, value)

    monkeypatch.setattr(Compiler, "_encode", counted)
    executed = 0  # graphql-core's executions of a subscription's result
    execute_operation = Executor.execute_operation

    def counted_execution(self: Executor, *args: Any, **kwargs: Any) -> Any:
        nonlocal executed
        executed += self.operation.operation == OperationType.SUBSCRIPTION
        return execute_operation(self, *args, **kwargs)

    monkeypatch.setattr(Executor, "execute_operation", counted_execution)
    hub = app.state.hub
    await hub.start()
    tasks: list[asyncio.Task[Any]] = []
    try:
        admin = await make_admin(client, database_url, "admin@example.com")
        settings = app.state.settings
        user, _ = await auth.authenticate(
            app.state.reads, settings=settings, access_token=admin.token
        )
        schema = app.state.view.schema
        sockets = [_Frames() for _ in range(50)]

        async def operation(index: int) -> None:
            operation = SimpleNamespace(
                id=f"op{index}", completed=False, task=asyncio.current_task()
            )
            # half of them with the server's send, which the hub uses itself (push)
            send = sockets[index].send if index % 2 else None
            view.DIRECT.set(view.Direct(operation, sockets[index], send))  # type: ignore[arg-type]
            context = Context(
                request=SimpleNamespace(app=app),
                response=None,
                settings=settings,
                session_factory=app.state.session_factory,
                reads=app.state.reads,
                hub=hub,
                user=user,
            )
            stream = await schema.subscribe(RICH_CHANGES, context_value=context)
            await anext(stream)  # never: each change is sent to the socket directly

        tasks = [asyncio.create_task(operation(i)) for i in range(50)]
        service = await rows.service(title="Massage")
        ann = await register(client, "ann@example.com")
        await asyncio.sleep(0.5)
        statements.clear()
        executed = 0

        # when Ann books
        await booked(client, ann["accessToken"], service, at(1))
        await asyncio.wait_for(asyncio.gather(*(s.arrived.wait() for s in sockets)), 10)

        # then all 50 got the same `next` frame but for their ids, built by one
        # statement and encoded once, with no per-subscriber execution, the hub
        # sending it itself to those it could send to
        frames = [socket.sent for socket in sockets]
        assert all(len(sent) == 1 for sent in frames)
        assert [socket.pushed for socket in sockets] == [index % 2 for index in range(50)]
        payloads = {sent[0].replace(f'"op{i}"', '"op"') for i, sent in enumerate(frames)}
        assert len(payloads) == 1
        message = json.loads(frames[7][0])
        assert list(message) == ["id", "type", "payload"]
        assert (message["id"], message["type"]) == ("op7", "next")
        change = message["payload"]["data"]["bookingChanged"]
        assert change["booking"]["user"]["email"] == "ann@example.com"
        built = [sql for sql in statements.statements if "json_populate_record" in sql]
        assert len(built) == 1, statements.statements
        assert encoded == 1
        assert executed == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.stop()


async def test_the_server_declines_per_message_compression(
    start_server: Callable[..., Server], http: Callable[[Server], httpx.AsyncClient]
) -> None:
    # given a client that offers permessage-deflate (websockets does by default)
    server = start_server()
    ann = await register(http(server), "ann@example.com")
    socket = await Socket.connect(server.ws, ann["accessToken"])
    # then the server accepts the socket without it: each frame is sent as it is
    response = socket.connection.response
    assert response is not None
    assert socket.connection.request is not None
    assert "permessage-deflate" in socket.connection.request.headers["Sec-WebSocket-Extensions"]
    assert "Sec-WebSocket-Extensions" not in response.headers
    await socket.close()


async def test_a_missing_or_bad_token_is_refused_with_4403(
    start_server: Callable[..., Server],
) -> None:
    server = start_server()
    for token in (None, "not-a-token"):
        socket = await Socket.open(server.ws, token)
        code, _ = await socket.closed()
        assert code == 4403


async def test_the_socket_closes_when_the_token_expires(
    start_server: Callable[..., Server], http: Callable[[Server], httpx.AsyncClient]
) -> None:
    server = start_server()
    ann = await register(http(server), "ann@example.com")
    claims = jwt.decode(ann["accessToken"], SECRET, algorithms=["HS256"], audience="bookit-api")
    soon = datetime.now(UTC) + timedelta(seconds=2)
    short_lived = jwt.encode({**claims, "exp": soon}, SECRET, algorithm="HS256")

    socket = await Socket.connect(server.ws, short_lived)
    await socket.subscribe()
    code, reason = await socket.closed(wait=10)
    assert code == 4403
    assert "expired" in reason


async def test_the_socket_closes_on_logout_made_on_another_instance(
    two_servers: tuple[Server, Server], http: Callable[[Server], httpx.AsyncClient]
) -> None:
    a, b = two_servers
    ann = await register(http(a), "ann@example.com")
    socket = await Socket.connect(a.ws, ann["accessToken"])
    await socket.subscribe()
    await gql(http(b), "mutation { logout }", token=ann["accessToken"])
    code, reason = await socket.closed()
    assert code == 4403
    assert "revoked" in reason


async def test_the_socket_closes_when_an_admin_deactivates_the_user(
    start_server: Callable[..., Server],
    http: Callable[[Server], httpx.AsyncClient],
    database_url: str,
) -> None:
    server = start_server()
    client = http(server)
    ann = await register(client, "ann@example.com")
    admin = await make_admin(client, database_url, "admin@example.com")
    socket = await Socket.connect(server.ws, ann["accessToken"])
    await gql(
        client,
        "mutation($id: ID!) { updateUser(id: $id, input: {isActive: false}) { id } }",
        {"id": ann["user"]["id"]},
        token=admin.token,
    )
    code, _ = await socket.closed()
    assert code == 4403


async def test_reconnecting_with_after_replays_what_was_missed_then_goes_live(
    start_server: Callable[..., Server],
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
) -> None:
    server = start_server()
    client = http(server)
    ann = await register(client, "ann@example.com")
    token = ann["accessToken"]
    service = await rows.service()

    socket = await Socket.connect(server.ws, token)
    await socket.subscribe()
    await asyncio.sleep(0.2)
    first = await booked(client, token, service, at(1))
    seen = await socket.next_change()
    await socket.close()

    # while away, three more changes
    missed = [await booked(client, token, service, at(hours)) for hours in (2, 3, 4)]

    again = await Socket.connect(server.ws, token)
    await again.subscribe(after=seen["cursor"])
    replayed = await again.changes(3)
    assert [c["booking"]["id"] for c in replayed] == [m["id"] for m in missed]
    live = await booked(client, token, service, at(5))
    assert (await again.next_change())["booking"]["id"] == live["id"]
    assert await again.nothing_within(0.5)  # nothing twice
    assert first["id"] not in {c["booking"]["id"] for c in replayed}
    await again.close()


async def test_concurrent_writers_never_make_a_subscriber_skip_an_event(
    two_servers: tuple[Server, Server],
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
    database_url: str,
) -> None:
    a, b = two_servers
    admin = await make_admin(http(a), database_url, "admin@example.com")
    users = [await register(http(a), f"u{n}@example.com") for n in range(20)]
    services = [await rows.service(title=f"S{n}") for n in range(20)]
    socket = await Socket.connect(a.ws, admin.token)
    await socket.subscribe()
    await asyncio.sleep(0.2)

    async def book_many(user: dict[str, Any], service: str) -> list[str]:
        return [
            (await booked(http(b if n % 2 else a), user["accessToken"], service, at(n)))["id"]
            for n in range(1, 4)
        ]

    results = await asyncio.gather(*(book_many(u, s) for u, s in zip(users, services, strict=True)))
    made = {booking for result in results for booking in result}
    changes = await socket.changes(len(made))
    assert {c["booking"]["id"] for c in changes} == made
    ids = [await _event_id(database_url, c["booking"]["id"]) for c in changes]
    assert ids == sorted(ids)  # in log order, which is commit order
    assert await socket.nothing_within(0.5)
    await socket.close()


async def test_the_listener_reconnects_and_catches_up_after_being_killed(
    two_servers: tuple[Server, Server],
    http: Callable[[Server], httpx.AsyncClient],
    rows: Rows,
    database_url: str,
) -> None:
    a, b = two_servers
    ann = await register(http(a), "ann@example.com")
    service = await rows.service()
    socket = await Socket.connect(a.ws, ann["accessToken"])
    await socket.subscribe()
    await asyncio.sleep(0.2)

    async def burst() -> list[str]:
        made = []
        for n in range(30):
            booking = await booked(http(b), ann["accessToken"], service, at(n + 1))
            made.append(booking["id"])
        return made

    async def kill_listeners() -> int:
        killed = 0
        for _ in range(3):
            await asyncio.sleep(0.15)
            killed += _terminate_listeners(database_url)
        return killed

    made, killed = await asyncio.gather(burst(), kill_listeners())
    assert killed >= 1
    changes = await socket.changes(30, wait=20)
    assert [c["booking"]["id"] for c in changes] == made  # all, once, in order
    assert await socket.nothing_within(0.5)
    await socket.close()


async def test_sigterm_closes_sockets_with_going_away(
    start_server: Callable[..., Server], http: Callable[[Server], httpx.AsyncClient]
) -> None:
    server = start_server()
    ann = await register(http(server), "ann@example.com")
    socket = await Socket.connect(server.ws, ann["accessToken"])
    await socket.subscribe()
    await asyncio.sleep(0.2)
    server.process.terminate()
    code, _ = await socket.closed()
    assert code in (1001, 1012)
    assert await asyncio.to_thread(server.process.wait, 15) == 0


def _event(id: int) -> Event:
    return Event(
        id=id,
        kind=BookingEventKind.CREATED,
        type="booking.created",
        booking_id=uuid.uuid4(),
        service_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        booking={},
        review=None,
        occurred_at=datetime.now(UTC),
    )


async def test_a_subscriber_that_falls_behind_is_cut_off() -> None:
    hub = EventHub(queue_size=3)
    subscriber = hub.subscribe(lambda event: True)
    other = hub.subscribe(lambda event: event.id % 2 == 0)
    for n in range(1, 6):
        hub._dispatch(_event(n))
    assert subscriber.overflowed
    assert subscriber.queue.get_nowait() is None  # told to go, its backlog dropped
    assert subscriber not in hub.subscribers
    assert not other.overflowed
    assert [other.queue.get_nowait().id for _ in range(2)] == [2, 4]


async def test_the_hub_pushes_only_to_a_subscriber_that_waits_with_nothing_queued() -> None:
    # given three subscribers that can be pushed to: one waiting, one busy (not
    # waiting for its next event), one waiting that declines the push
    hub = EventHub(queue_size=10)
    pushed: list[tuple[int, Any]] = []

    def push(event: Event, ready: Any) -> bool:
        pushed.append((event.id, ready))
        return True

    waiting = hub.subscribe(lambda event: True, push=push)
    busy = hub.subscribe(lambda event: True, push=push)
    declining = hub.subscribe(lambda event: True, push=lambda event, ready: False)
    waits = asyncio.create_task(waiting.next())
    declined = asyncio.create_task(declining.next())
    await asyncio.sleep(0)
    prepared = asyncio.get_running_loop().create_future()

    # when the hub hands out two events, the first with what was prepared for one
    hub._dispatch(_event(1), {waiting: prepared})
    hub._dispatch(_event(2))

    # then the waiting one got both pushed, in order, each with its own preparation
    assert pushed == [(1, prepared), (2, None)]
    assert waiting.queue.empty()
    assert not waits.done()
    # and the busy one has them queued, as the one that declined has
    assert [busy.queue.get_nowait().id for _ in range(2)] == [1, 2]
    assert (await declined).id == 1  # woken by the first: the second is queued behind it
    assert declining.queue.get_nowait().id == 2
    waits.cancel()


async def test_a_pushed_frame_that_waits_for_the_socket_keeps_its_place() -> None:
    # given an operation whose server send waits (the client reads too slowly)
    socket = _Frames()
    release = asyncio.Event()

    async def slow(message: dict[str, Any]) -> None:
        await release.wait()
        await socket.send(message)

    operation = SimpleNamespace(id="7", completed=False, task=None)
    direct = Direct(operation, socket, slow)  # type: ignore[arg-type]

    # when the hub pushes one frame, then another comes
    assert direct.push('"a"')  # taken: it goes on by itself
    assert not direct.push('"b"')  # declined while the first waits
    second = asyncio.create_task(direct.next('"b"'))
    await asyncio.sleep(0.01)
    assert socket.sent == []  # behind the first

    # then once the socket takes frames, they come in order
    release.set()
    await asyncio.wait_for(second, 5)
    prefix = '{"id":"7","type":"next","payload":'
    assert socket.sent == [f'{prefix}"a"}}', f'{prefix}"b"}}']
    assert socket.pushed == 1  # the second through Starlette's WebSocket
    assert direct.push('"c"')
    assert socket.sent[-1] == f'{prefix}"c"}}'


async def test_a_push_that_fails_leaves_the_failure_to_the_operation() -> None:
    socket = _Frames()
    operation = SimpleNamespace(id="7", completed=False, task=None)

    async def refused(message: dict[str, Any]) -> None:
        raise RuntimeError("closed")  # before it writes anything, as uvicorn's

    # a send refused at once: nothing sent, and next sends it as it always did
    direct = Direct(operation, socket, refused)  # type: ignore[arg-type]
    assert not direct.push('"a"')
    assert socket.sent == []
    await direct.next('"a"')
    assert socket.pushed == 0
    assert len(socket.sent) == 1

    # a send that waits, then finds the client gone: the next frame raises what
    # Strawberry's send would have (the operation ends), and nothing is sent
    release = asyncio.Event()

    async def lost(message: dict[str, Any]) -> None:
        await release.wait()
        raise OSError("client disconnected")

    direct = Direct(operation, socket, lost)  # type: ignore[arg-type]
    assert direct.push('"b"')
    release.set()
    await asyncio.sleep(0.01)
    assert not direct.push('"c"')
    with pytest.raises(WebSocketDisconnected):
        await direct.next('"c"')
    assert len(socket.sent) == 1


async def test_nothing_is_pushed_to_an_operation_that_is_being_cancelled() -> None:
    # given an operation whose task a client's `complete` has just cancelled
    socket = _Frames()
    task = asyncio.create_task(asyncio.sleep(10))
    operation = SimpleNamespace(id="7", completed=False, task=task)
    direct = Direct(operation, socket, socket.send)  # type: ignore[arg-type]
    assert direct.push('"a"')
    task.cancel()
    # then the hub sends it nothing more, as its own task would not have
    assert direct.push('"b"')
    assert socket.sent == ['{"id":"7","type":"next","payload":"a"}']
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert direct.push('"c"')
    assert len(socket.sent) == 1


async def _event_id(database_url: str, booking_id: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute(
            "SELECT min(id) FROM booking_events WHERE booking_id = %s", (booking_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _terminate_listeners(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (LISTENER,),
        ).fetchall()
    return len(rows)
