"""Admin user management: listing with filters and pages, role changes, deactivation."""

from __future__ import annotations

import httpx

from tests.helpers import LOGIN, PASSWORD, codes, gql, make_admin, register

USERS = """
query Users($filter: UserFilter, $first: Int, $after: String) {
  users(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id email fullName role isActive createdAt } }
  }
}
"""
UPDATE_USER = """
mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { id email fullName role isActive }
}
"""
ME = "{ me { id role } }"


async def test_users_is_for_admins_only(client: httpx.AsyncClient, database_url: str) -> None:
    user = await register(client, "user@example.com")
    assert codes(await gql(client, USERS)) == ["UNAUTHENTICATED"]
    assert codes(await gql(client, USERS, token=user["accessToken"])) == ["FORBIDDEN"]
    admin = await make_admin(client, database_url, "admin@example.com")
    body = await gql(client, USERS, token=admin.token)
    assert body["data"]["users"]["totalCount"] == 2


async def test_users_pages_through_everyone_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")
    for n in range(6):
        await register(client, f"u{n}@example.com")
    seen: list[str] = []
    after = None
    while True:
        body = await gql(client, USERS, {"first": 4, "after": after}, token=admin.token)
        page = body["data"]["users"]
        assert page["totalCount"] == 7
        seen += [edge["node"]["email"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert len(seen) == len(set(seen)) == 7


async def test_users_filters(client: httpx.AsyncClient, database_url: str) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")
    token = admin.token
    await register(client, "zed@example.com", full_name="Zed Zulu")
    await register(client, "amy@example.com", full_name="Amy 100%_off")

    async def emails(filter: dict) -> set[str]:
        body = await gql(client, USERS, {"filter": filter}, token=token)
        return {edge["node"]["email"] for edge in body["data"]["users"]["edges"]}

    assert await emails({"q": "ZULU"}) == {"zed@example.com"}
    assert await emails({"q": "%_"}) == {"amy@example.com"}  # wildcards are literal
    assert await emails({"role": "ADMIN"}) == {"admin@example.com"}
    too_long = await gql(client, USERS, {"filter": {"q": "x" * 201}}, token=token)
    assert codes(too_long) == ["BAD_USER_INPUT"]
    assert too_long["errors"][0]["extensions"]["field"] == "q"
    assert await emails({"role": "USER", "isActive": True}) == {
        "zed@example.com",
        "amy@example.com",
    }


async def test_users_page_size_and_cursor_are_checked(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")
    too_many = await gql(client, USERS, {"first": 101}, token=admin.token)
    assert codes(too_many) == ["BAD_USER_INPUT"]
    assert too_many["errors"][0]["extensions"]["field"] == "first"
    bad_cursor = await gql(client, USERS, {"after": "not-a-cursor"}, token=admin.token)
    assert codes(bad_cursor) == ["BAD_USER_INPUT"]
    assert bad_cursor["errors"][0]["extensions"]["field"] == "after"


async def test_deactivation_ends_tokens_and_logins(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")
    user = await register(client, "gone@example.com")
    body = await gql(
        client,
        UPDATE_USER,
        {"id": user["user"]["id"], "input": {"isActive": False}},
        token=admin.token,
    )
    assert body["data"]["updateUser"]["isActive"] is False
    await gql(client, ME, token=user["accessToken"], expect_status=401)
    refreshed = await gql(
        client,
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
        {"t": user["refreshToken"]},
    )
    assert codes(refreshed) == ["UNAUTHENTICATED"]
    login = await gql(client, LOGIN, {"input": {"email": "gone@example.com", "password": PASSWORD}})
    wrong = await gql(client, LOGIN, {"input": {"email": "gone@example.com", "password": "x" * 9}})
    assert codes(login) == ["UNAUTHENTICATED"]
    assert login["errors"][0]["message"] == wrong["errors"][0]["message"]

    # reactivated, the account can log in again (its old sessions stay ended)
    await gql(
        client,
        UPDATE_USER,
        {"id": user["user"]["id"], "input": {"isActive": True}},
        token=admin.token,
    )
    login = await gql(client, LOGIN, {"input": {"email": "gone@example.com", "password": PASSWORD}})
    assert login["data"]["login"]["accessToken"]
    await gql(client, ME, token=user["accessToken"], expect_status=401)


async def test_promotion_takes_effect_on_the_next_request(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")
    user = await register(client, "rise@example.com")
    assert codes(await gql(client, USERS, token=user["accessToken"])) == ["FORBIDDEN"]
    body = await gql(
        client,
        UPDATE_USER,
        {"id": user["user"]["id"], "input": {"role": "ADMIN", "fullName": "Risen"}},
        token=admin.token,
    )
    assert body["data"]["updateUser"]["role"] == "ADMIN"
    assert body["data"]["updateUser"]["fullName"] == "Risen"
    assert "errors" not in await gql(client, USERS, token=user["accessToken"])


async def test_update_user_unknown_ids_are_not_found(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")
    for unknown in ("8d5e4d4e-0000-4000-8000-000000000000", "not-a-uuid", ""):
        body = await gql(
            client,
            UPDATE_USER,
            {"id": unknown, "input": {"isActive": False}},
            token=admin.token,
        )
        assert codes(body) == ["NOT_FOUND"], unknown


async def test_update_user_is_admin_only_and_admins_cannot_lock_themselves_out(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = await make_admin(client, database_url, "admin@example.com")
    user = await register(client, "plain@example.com")
    variables = {"id": admin.id, "input": {"role": "USER"}}
    assert codes(await gql(client, UPDATE_USER, variables, token=user["accessToken"])) == [
        "FORBIDDEN"
    ]
    assert codes(await gql(client, UPDATE_USER, variables, token=admin.token)) == ["INVALID_STATE"]
    body = await gql(client, ME, token=admin.token)
    assert body["data"]["me"]["role"] == "ADMIN"
