"""A client's day, sent as the contract's own documents (by operationName), over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from bookit_graphql.db import create_engine
from bookit_graphql.permissions import Role
from bookit_graphql.users.models import User

CONTRACT = (Path(__file__).parent / "contract" / "operations.graphql").read_text()
PASSWORD = "a long enough password"


class Client:
    """Sends operations of the contract document by name, with a bearer token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.token: str | None = None

    async def send(self, operation: str, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post(
            "/graphql",
            json={"query": CONTRACT, "operationName": operation, "variables": variables},
            headers=headers,
        )
        body: dict[str, Any] = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, (operation, body)
        data: dict[str, Any] = body["data"]
        return data


def future(days: int, hour: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


async def test_every_contract_operation_works_as_the_clients_send_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin, ann = Client(client), Client(client)

    # accounts: register, promote the first to admin, log in, refresh, me, updateMe
    for who, email in ((admin, "admin@example.com"), (ann, "ann@example.com")):
        tokens = await who.send(
            "Register", input={"email": email, "password": PASSWORD, "fullName": "X"}
        )
        who.token = tokens["register"]["accessToken"]
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(
            update(User).where(User.email == "admin@example.com").values(role=Role.ADMIN)
        )
    await engine.dispose()
    login = await admin.send("Login", input={"email": "admin@example.com", "password": PASSWORD})
    assert login["login"]["user"]["role"] == "ADMIN"
    refreshed = await admin.send("Refresh", refreshToken=login["login"]["refreshToken"])
    admin.token = refreshed["refreshToken"]["accessToken"]
    assert (await ann.send("Me"))["me"]["email"] == "ann@example.com"
    renamed = await ann.send("UpdateMe", input={"fullName": "Ann Example"})
    assert renamed["updateMe"]["fullName"] == "Ann Example"

    # the catalogue
    made = await admin.send(
        "CreateService",
        input={"title": "Massage", "price": "49.90", "durationMinutes": 60},
    )
    service = made["createService"]
    assert service["price"] == "49.90"
    assert service["averageRating"] is None
    changed = await admin.send(
        "UpdateService", id=service["id"], input={"description": "Deep tissue"}
    )
    assert changed["updateService"]["description"] == "Deep tissue"
    listed = await ann.send(
        "Services", filter={"q": "massage"}, orderBy={"field": "PRICE", "direction": "DESC"}
    )
    assert [e["node"]["id"] for e in listed["services"]["edges"]] == [service["id"]]
    slots = await ann.send(
        "ServiceAvailability", id=service["id"], **{"from": future(3, 9), "to": future(3, 12)}
    )
    assert [s["startsAt"] for s in slots["service"]["availableSlots"]][:2] == [
        future(3, 9),
        future(3, 9).replace("T09:00", "T09:30"),
    ]

    # bookings: book, list, read, reschedule, confirm and complete, review
    booked = await ann.send(
        "CreateBooking", input={"serviceId": service["id"], "startsAt": future(3, 9)}
    )
    booking = booked["createBooking"]
    assert booking["endsAt"] == future(3, 10)
    assert booking["user"]["email"] == "ann@example.com"
    assert (await ann.send("Bookings"))["bookings"]["totalCount"] == 1
    assert (await ann.send("Booking", id=booking["id"]))["booking"]["status"] == "PENDING"
    moved = await ann.send("RescheduleBooking", id=booking["id"], startsAt=future(3, 11))
    assert moved["updateBooking"]["startsAt"] == future(3, 11)
    for status in ("CONFIRMED", "COMPLETED"):
        done = await admin.send("SetBookingStatus", id=booking["id"], status=status)
        assert done["updateBooking"]["status"] == status
    review = (await ann.send("CreateReview", input={"bookingId": booking["id"], "rating": 4}))[
        "createReview"
    ]
    assert review["booking"] == {"id": booking["id"]}
    edited = await ann.send(
        "UpdateReview", id=review["id"], input={"rating": 5, "comment": "Great"}
    )
    assert edited["updateReview"]["comment"] == "Great"
    detail = await Client(client).send("Service", id=service["id"], reviewsFirst=5)
    assert detail["service"]["averageRating"] == 5.0
    assert detail["service"]["reviews"]["edges"][0]["node"]["author"]["fullName"] == "Ann Example"
    assert (await ann.send("Reviews"))["reviews"]["totalCount"] == 1
    assert (await ann.send("DeleteReview", id=review["id"]))["deleteReview"] is True

    # another booking, deleted by its owner before it starts
    other = await ann.send(
        "CreateBooking", input={"serviceId": service["id"], "startsAt": future(4, 9)}
    )
    assert (await ann.send("DeleteBooking", id=other["createBooking"]["id"]))["deleteBooking"]

    # admin: users, deactivate; the service with history is deactivated, not destroyed
    users = await admin.send("Users", filter={"role": "USER"})
    assert [e["node"]["email"] for e in users["users"]["edges"]] == ["ann@example.com"]
    off = await admin.send(
        "UpdateUser", id=users["users"]["edges"][0]["node"]["id"], input={"isActive": False}
    )
    assert off["updateUser"]["isActive"] is False
    assert (await admin.send("DeleteService", id=service["id"]))["deleteService"] == "DEACTIVATED"
    spare = await admin.send(
        "CreateService", input={"title": "Spare", "price": "0", "durationMinutes": 30}
    )
    assert (await admin.send("DeleteService", id=spare["createService"]["id"]))[
        "deleteService"
    ] == "DELETED"

    # and out
    assert (await admin.send("Logout"))["logout"] is True
    refused = await client.post(
        "/graphql",
        json={"query": CONTRACT, "operationName": "Me"},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert refused.status_code == 401
