"""The writes are one statement each, and a kept copy of a service's rules is never
used once the rules changed."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.bookings.models import BookingStatus
from bookit_graphql.catalog.models import Service
from tests.bookings.support import BASE, BOOKING, CREATE_BOOKING, RESCHEDULE_BOOKING, at
from tests.conftest import StatementCounter
from tests.factories import Rows
from tests.helpers import Account, gql

CREATE = """
mutation($input: CreateBookingInput!) { createBooking(input: $input) { id startsAt status } }
"""
UPDATE = """
mutation($id: ID!, $input: UpdateBookingInput!) {
  updateBooking(id: $id, input: $input) { id status }
}
"""
REVIEW = """
mutation($input: CreateReviewInput!) { createReview(input: $input) { id rating } }
"""
AUTH = "FROM users"  # the one read that every authenticated request makes (users/auth.py)


def kinds(statements: StatementCounter) -> list[str]:
    """Each statement sent, as the function it calls or the table it reads."""
    found = []
    for statement in statements.statements:
        for name in ("bookit_create_booking", "bookit_update_booking", "bookit_create_review"):
            if name in statement:
                found.append(name)
                break
        else:
            if AUTH in statement:
                found.append("auth")
            elif "bookit_rules_version(s) AS version" in statement:
                found.append("rules")
            else:
                found.append(statement)
    return found


async def test_a_booking_is_one_statement_besides_the_callers_check(
    client: httpx.AsyncClient, alice: Account, service_id: str, statements: StatementCounter
) -> None:
    # given a process that has read the service's rules once (its first booking)
    first = await gql(
        client, CREATE, {"input": {"serviceId": service_id, "startsAt": at(1)}}, token=alice.token
    )
    assert "errors" not in first, first
    # when it books again
    statements.clear()
    body = await gql(
        client, CREATE, {"input": {"serviceId": service_id, "startsAt": at(3)}}, token=alice.token
    )
    # then the booking is made by one statement, after the caller's check
    assert body["data"]["createBooking"]["status"] == "PENDING"
    assert kinds(statements) == ["auth", "bookit_create_booking"]
    # and a refusal too (the conflict's range comes from the same statement)
    statements.clear()
    body = await gql(
        client, CREATE, {"input": {"serviceId": service_id, "startsAt": at(3.5)}}, token=alice.token
    )
    assert body["errors"][0]["extensions"]["code"] == "BOOKING_CONFLICT"
    assert body["errors"][0]["extensions"]["conflictingRange"]["startsAt"] == at(3)
    assert kinds(statements) == ["auth", "bookit_create_booking"]


async def test_a_move_and_a_cancellation_are_one_statement(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    rows: Rows,
    statements: StatementCounter,
) -> None:
    made = await gql(
        client, CREATE, {"input": {"serviceId": service_id, "startsAt": at(1)}}, token=alice.token
    )
    booking_id = made["data"]["createBooking"]["id"]
    # a move of a booking this process has seen: one statement
    statements.clear()
    body = await gql(
        client, UPDATE, {"id": booking_id, "input": {"startsAt": at(5)}}, token=alice.token
    )
    assert "errors" not in body, body
    assert kinds(statements) == ["auth", "bookit_update_booking"]
    # a cancellation: one
    statements.clear()
    body = await gql(
        client, UPDATE, {"id": booking_id, "input": {"status": "CANCELLED"}}, token=alice.token
    )
    assert body["data"]["updateBooking"]["status"] == "CANCELLED"
    assert kinds(statements) == ["auth", "bookit_update_booking"]
    # a move of a booking it has not seen: the first statement finds its service
    other = await rows.booking(
        service_id=service_id,
        user_id=alice.id,
        starts_at=BASE + timedelta(hours=8),
        status=BookingStatus.PENDING,
    )
    statements.clear()
    body = await gql(client, UPDATE, {"id": other, "input": {"startsAt": at(9)}}, token=alice.token)
    assert "errors" not in body, body
    assert kinds(statements) == ["auth", "bookit_update_booking", "bookit_update_booking"]


async def test_a_review_is_one_statement(
    client: httpx.AsyncClient, alice: Account, rows: Rows, statements: StatementCounter
) -> None:
    service_id = await rows.service()
    booking_id = await rows.booking(service_id=service_id, user_id=alice.id)  # completed
    statements.clear()
    body = await gql(
        client, REVIEW, {"input": {"bookingId": booking_id, "rating": 5}}, token=alice.token
    )
    assert body["data"]["createReview"]["rating"] == 5
    assert kinds(statements) == ["auth", "bookit_create_review"]


async def test_kept_rules_are_read_again_when_the_service_changed_under_them(
    client: httpx.AsyncClient,
    alice: Account,
    rows: Rows,
    db: async_sessionmaker[AsyncSession],
    statements: StatementCounter,
    count_bookings: Callable[[], Awaitable[int]],
) -> None:
    # given a service open around the clock whose rules this process has read
    service_id = await rows.service()
    first = await gql(
        client, CREATE, {"input": {"serviceId": service_id, "startsAt": at(1)}}, token=alice.token
    )
    assert "errors" not in first, first
    # when its hours change behind the API's back (no ORM, no updated_at)
    async with db.begin() as session:
        hours = [
            {"day": d, "opens": "00:00", "closes": "00:30"}
            for d in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
        ]
        await session.execute(
            update(Service)
            .where(Service.id == uuid.UUID(service_id))
            .values(weekly_hours=hours, updated_at=Service.updated_at)
        )
    # then a time the old rules took is judged by the new ones
    statements.clear()
    body = await gql(
        client, CREATE, {"input": {"serviceId": service_id, "startsAt": at(5)}}, token=alice.token
    )
    assert body["errors"][0]["extensions"] == {"code": "SLOT_UNAVAILABLE", "reason": "CLOSED"}
    # the statement said the kept rules were stale; they were read again, and judged again
    assert kinds(statements) == ["auth", "bookit_create_booking", "rules", "bookit_create_booking"]
    assert await count_bookings() == 1


async def test_a_booking_with_its_related_rows_is_answered_by_its_own_statement(
    client: httpx.AsyncClient,
    alice: Account,
    admin: Account,
    service_id: str,
    statements: StatementCounter,
) -> None:
    # given a process that has read the service's rules once
    first = await gql(
        client, CREATE, {"input": {"serviceId": service_id, "startsAt": at(1)}}, token=alice.token
    )
    assert "errors" not in first, first
    # when a booking's answer selects its service, its user and its review
    statements.clear()
    body = await gql(
        client,
        CREATE_BOOKING,
        {"input": {"serviceId": service_id, "startsAt": at(5)}},
        token=alice.token,
    )
    # then the write and the whole answer, built by PostgreSQL, are one statement
    made = body["data"]["createBooking"]
    assert kinds(statements) == ["auth", "bookit_create_booking"]
    assert "/* compiled */" in statements.statements[1]
    # and it is what the booking query answers (itself checked against the resolvers)
    read = await gql(client, BOOKING, {"id": made["id"]}, token=alice.token)
    assert read["data"]["booking"] == made
    assert made["service"]["id"] == service_id
    assert made["user"]["id"] == alice.id
    assert made["review"] is None
    # and a move by an admin answers the same way, as the booking query shows it to them
    statements.clear()
    moved = await gql(
        client, RESCHEDULE_BOOKING, {"id": made["id"], "startsAt": at(9)}, token=admin.token
    )
    answer = moved["data"]["updateBooking"]
    assert answer["startsAt"] == at(9)
    assert kinds(statements)[0] == "auth"
    assert kinds(statements)[-1] == "bookit_update_booking"
    assert "/* compiled */" in statements.statements[-1]
    assert not any("/* compiled */" in statement for statement in statements.statements[:-1])
    again = await gql(client, BOOKING, {"id": made["id"]}, token=admin.token)
    assert again["data"]["booking"] == answer


ANSWER_WITH_DIRECTIVES = """
mutation($input: CreateBookingInput!, $withService: Boolean!) {
  createBooking(input: $input) {
    id status
    service @include(if: $withService) { id title }
    user { fullName }
  }
}
"""
READ_WITH_DIRECTIVES = """
query($id: ID!, $withService: Boolean!) {
  booking(id: $id) {
    id status
    service @include(if: $withService) { id title }
    user { fullName }
  }
}
"""


async def test_the_answer_follows_the_variables_its_selection_reads_and_a_replay_answers_alike(
    client: httpx.AsyncClient, alice: Account, service_id: str, statements: StatementCounter
) -> None:
    # given one mutation document whose selection reads a variable, sent with either value
    answers = []
    for hours, with_service in ((1, True), (3, False), (5, True)):
        statements.clear()
        variables = {
            "input": {"serviceId": service_id, "startsAt": at(hours), "idempotencyKey": str(hours)},
            "withService": with_service,
        }
        body = await gql(client, ANSWER_WITH_DIRECTIVES, variables, token=alice.token)
        # then each answers as its own selection says, in the write's own statement
        made = body["data"]["createBooking"]
        assert ("service" in made) is with_service, made
        written = [k for k in kinds(statements) if k not in ("auth", "rules")]  # rules: once
        assert written == ["bookit_create_booking"], statements.statements
        read = await gql(
            client,
            READ_WITH_DIRECTIVES,
            {"id": made["id"], "withService": with_service},
            token=alice.token,
        )
        assert read["data"]["booking"] == made
        answers.append((variables, made))
    # and a retry with the same key answers the first call's booking, as the first call did
    for variables, made in answers:
        again = await gql(client, ANSWER_WITH_DIRECTIVES, variables, token=alice.token)
        assert again["data"]["createBooking"] == made
