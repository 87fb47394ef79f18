"""`bookings` and `booking`: who sees what, the filters, the pages, and what a page costs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.bookings.support import BOOKING, BOOKINGS, SET_BOOKING_STATUS, at, booked, only_error
from tests.conftest import StatementCounter
from tests.factories import Rows
from tests.helpers import Account, codes, gql, register


async def ids_of(
    client: httpx.AsyncClient, token: str, filter: dict[str, Any] | None = None
) -> list[str]:
    body = await gql(client, BOOKINGS, {"filter": filter}, token=token)
    assert "errors" not in body, body
    return [edge["node"]["id"] for edge in body["data"]["bookings"]["edges"]]


async def test_a_user_sees_their_own_bookings_and_an_admin_sees_all(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    admin: Account,
    service_id: str,
) -> None:
    # given two bookings of Alice's and one of Bob's
    late = await booked(client, alice.token, service_id, at(5))
    early = await booked(client, alice.token, service_id, at(1))
    theirs = await booked(client, bob.token, service_id, at(3))

    # then each user sees theirs, by start time, and the admin everyone's
    assert await ids_of(client, alice.token) == [early["id"], late["id"]]
    assert await ids_of(client, bob.token) == [theirs["id"]]
    assert await ids_of(client, admin.token) == [early["id"], theirs["id"], late["id"]]
    body = await gql(client, BOOKINGS, token=alice.token)
    assert body["data"]["bookings"]["totalCount"] == 2


async def test_bookings_needs_authentication(client: httpx.AsyncClient) -> None:
    assert codes(await gql(client, BOOKINGS)) == ["UNAUTHENTICATED"]


async def test_filters_by_status_service_and_user(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    admin: Account,
    rows: Rows,
) -> None:
    # given Alice's two bookings of two services, one cancelled, and one of Bob's
    cut, nails = await rows.service(), await rows.service(title="Nails")
    kept = await booked(client, alice.token, cut, at(1))
    dropped = await booked(client, alice.token, nails, at(1))
    await gql(
        client,
        SET_BOOKING_STATUS,
        {"id": dropped["id"], "status": "CANCELLED"},
        token=alice.token,
    )
    theirs = await booked(client, bob.token, cut, at(3))
    token = alice.token

    assert await ids_of(client, token, {"status": "PENDING"}) == [kept["id"]]
    assert await ids_of(client, token, {"status": "CANCELLED"}) == [dropped["id"]]
    assert await ids_of(client, token, {"serviceId": nails}) == [dropped["id"]]
    # a user may name themselves
    assert sorted(await ids_of(client, token, {"userId": alice.id})) == sorted(
        [kept["id"], dropped["id"]]
    )
    # an admin filters by user, and by service across users
    admin_token = admin.token
    assert await ids_of(client, admin_token, {"userId": bob.id}) == [theirs["id"]]
    assert sorted(await ids_of(client, admin_token, {"serviceId": cut})) == sorted(
        [kept["id"], theirs["id"]]
    )


async def test_a_user_may_not_ask_for_another_users_bookings(
    client: httpx.AsyncClient, alice: Account, bob: Account, service_id: str
) -> None:
    await booked(client, bob.token, service_id, at(1))
    for other in (bob.id, "not-a-uuid"):
        body = await gql(client, BOOKINGS, {"filter": {"userId": other}}, token=alice.token)
        assert codes(body) == ["FORBIDDEN"], other


async def test_malformed_or_unknown_ids_in_filters_match_nothing(
    client: httpx.AsyncClient, alice: Account, admin: Account, service_id: str
) -> None:
    await booked(client, alice.token, service_id, at(1))
    for unknown in ("not-a-uuid", "", "8d5e4d4e-0000-4000-8000-000000000000"):
        assert await ids_of(client, alice.token, {"serviceId": unknown}) == []
        assert await ids_of(client, admin.token, {"serviceId": unknown}) == []
        assert await ids_of(client, admin.token, {"userId": unknown}) == []


async def test_from_and_to_keep_bookings_that_overlap_the_window(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    # given bookings 1-2, 3-4 and 5-6
    one, two, three = [
        (await booked(client, alice.token, service_id, at(h)))["id"] for h in (1, 3, 5)
    ]
    token = alice.token

    # a window overlapping part of a booking keeps it; touching its end does not
    assert await ids_of(client, token, {"from": at(1.5), "to": at(3.5)}) == [one, two]
    assert await ids_of(client, token, {"from": at(2), "to": at(3)}) == []
    assert await ids_of(client, token, {"from": at(4, offset_hours=9)}) == [three]
    assert await ids_of(client, token, {"to": at(3.01)}) == [one, two]


async def test_a_window_that_ends_before_it_starts_is_bad_user_input(
    client: httpx.AsyncClient, alice: Account
) -> None:
    body = await gql(
        client,
        BOOKINGS,
        {"filter": {"from": at(5), "to": at(1)}},
        token=alice.token,
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    assert only_error(body)["extensions"]["field"] == "to"


async def test_pages_through_every_booking_once_by_start_time(
    client: httpx.AsyncClient, alice: Account, service_id: str
) -> None:
    made = [(await booked(client, alice.token, service_id, at(h)))["id"] for h in range(7)]
    seen: list[str] = []
    after = None
    while True:
        body = await gql(client, BOOKINGS, {"first": 3, "after": after}, token=alice.token)
        page = body["data"]["bookings"]
        assert page["totalCount"] == 7
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == made


async def test_page_size_and_cursor_are_checked(client: httpx.AsyncClient, alice: Account) -> None:
    too_many = await gql(client, BOOKINGS, {"first": 101}, token=alice.token)
    assert only_error(too_many)["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    bad_cursor = await gql(client, BOOKINGS, {"after": "garbage"}, token=alice.token)
    assert only_error(bad_cursor)["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


async def test_booking_shows_the_owner_and_admins_and_hides_it_from_others(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    admin: Account,
    service_id: str,
) -> None:
    mine = await booked(client, alice.token, service_id, at(1))

    for token in (alice.token, admin.token):
        body = await gql(client, BOOKING, {"id": mine["id"]}, token=token)
        assert body["data"]["booking"] == mine

    # to another user it does not exist, like an unknown or malformed id
    for booking_id, token in (
        (mine["id"], bob.token),
        ("8d5e4d4e-0000-4000-8000-000000000000", alice.token),
        ("not-a-uuid", admin.token),
    ):
        body = await gql(client, BOOKING, {"id": booking_id}, token=token)
        assert codes(body) == ["NOT_FOUND"], booking_id
        assert body["data"] == {"booking": None}
    assert codes(await gql(client, BOOKING, {"id": mine["id"]})) == ["UNAUTHENTICATED"]


async def test_a_page_of_50_with_service_user_and_review_costs_a_constant_few_statements(
    client: httpx.AsyncClient,
    admin: Account,
    rows: Rows,
    statements: StatementCounter,
    reads: str,
) -> None:
    # given 60 bookings of 10 users on 5 services
    services = [await rows.service(title=f"S{n}") for n in range(5)]
    users = [await register(client, f"u{n}@example.com") for n in range(10)]
    for n in range(60):
        await booked(client, users[n % 10]["accessToken"], services[n % 5], at(n))

    # when an admin reads a page of 50 with every nested field
    statements.clear()
    body = await gql(client, BOOKINGS, {"first": 50}, token=admin.token)

    # then: who is asking, and the page with its count, services, users and reviews:
    # compiled in one statement, or resolved in five (page, count, one batch per relation)
    page = body["data"]["bookings"]
    assert len(page["edges"]) == 50
    assert page["totalCount"] == 60
    assert len({edge["node"]["user"]["id"] for edge in page["edges"]}) == 10
    assert statements.count == {"compiled": 2, "resolved": 6}[reads], statements.statements


async def test_a_reviewed_booking_shows_its_review(
    client: httpx.AsyncClient,
    alice: Account,
    service_id: str,
    rows: Rows,
) -> None:
    # given a booking with a review (written straight to the table: reviews are another domain)
    mine = await booked(client, alice.token, service_id, at(1))
    review_id = await rows.review(
        booking_id=mine["id"], service_id=service_id, user_id=alice.id, rating=5, comment="Lovely"
    )

    # then the booking carries it
    body = await gql(client, BOOKING, {"id": mine["id"]}, token=alice.token)
    assert body["data"]["booking"]["review"] == {
        "id": review_id,
        "rating": 5,
        "comment": "Lovely",
    }
