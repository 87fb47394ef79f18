"""The auth flow over HTTP, as a client sees it: tokens, rotation, logout, refusals."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import bcrypt
import httpx
import jwt
import pytest
import time_machine

from bookit_graphql.config import Settings
from bookit_graphql.users import passwords, tokens
from tests.helpers import LOGIN, PASSWORD, codes, gql, register

ME = "query Me { me { id email fullName role createdAt updatedAt } }"
REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { accessToken refreshToken user { id } }
}
"""
LOGOUT = "mutation Logout($refreshToken: String) { logout(refreshToken: $refreshToken) }"
UPDATE_ME = """
mutation UpdateMe($input: UpdateMeInput!) { updateMe(input: $input) { id email fullName role } }
"""


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict:
    return await gql(client, LOGIN, {"input": {"email": email, "password": password}})


async def test_register_login_me_refresh_logout(client: httpx.AsyncClient) -> None:
    # given a new account
    registered = await register(client, "Ann@Example.com", full_name="Ann")
    assert registered["tokenType"] == "Bearer"
    assert registered["expiresIn"] == 15 * 60
    assert registered["user"]["email"] == "ann@example.com"
    assert registered["user"]["role"] == "USER"

    # when it logs in with the email in another case, then `me` answers
    logged_in = (await login(client, "ANN@example.com"))["data"]["login"]
    me = await gql(client, ME, token=logged_in["accessToken"])
    assert me["data"]["me"]["email"] == "ann@example.com"
    assert me["data"]["me"]["createdAt"].endswith("+00:00")

    # a refresh rotates both tokens
    body = await gql(client, REFRESH, {"refreshToken": logged_in["refreshToken"]})
    rotated = body["data"]["refreshToken"]
    new = rotated["refreshToken"]
    assert new != logged_in["refreshToken"]
    assert (await gql(client, ME, token=rotated["accessToken"]))["data"]["me"]["id"]

    # logout ends the session: the refresh token and both access tokens stop working
    assert (await gql(client, LOGOUT, {"refreshToken": new}))["data"]["logout"] is True
    assert codes(await gql(client, REFRESH, {"refreshToken": new})) == ["UNAUTHENTICATED"]
    for access in (logged_in["accessToken"], rotated["accessToken"]):
        refused = await client.post(
            "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {access}"}
        )
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert codes(refused.json()) == ["UNAUTHENTICATED"]

    # while the registration's own session is untouched
    assert (await gql(client, ME, token=registered["accessToken"]))["data"]["me"]


async def test_reusing_a_spent_refresh_token_revokes_the_family(client: httpx.AsyncClient) -> None:
    first = await register(client, "bob@example.com")
    body = await gql(client, REFRESH, {"refreshToken": first["refreshToken"]})
    second = body["data"]["refreshToken"]
    assert second["refreshToken"]

    # the spent token comes back (a thief, or the victim after the theft)
    reused = await gql(client, REFRESH, {"refreshToken": first["refreshToken"]})
    assert codes(reused) == ["UNAUTHENTICATED"]

    # so the newest refresh token and the family's access tokens are dead too
    assert codes(await gql(client, REFRESH, {"refreshToken": second["refreshToken"]})) == [
        "UNAUTHENTICATED"
    ]
    await gql(client, ME, token=second["accessToken"], expect_status=401)


async def test_logout_without_argument_ends_the_current_session(client: httpx.AsyncClient) -> None:
    account = await register(client, "cy@example.com")
    other = (await login(client, "cy@example.com"))["data"]["login"]
    body = await gql(client, LOGOUT, token=account["accessToken"])
    assert body["data"]["logout"] is True
    await gql(client, ME, token=account["accessToken"], expect_status=401)
    assert codes(await gql(client, REFRESH, {"refreshToken": account["refreshToken"]})) == [
        "UNAUTHENTICATED"
    ]
    # another login of the same account lives on
    assert (await gql(client, ME, token=other["accessToken"]))["data"]["me"]


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    assert codes(await gql(client, LOGOUT)) == ["UNAUTHENTICATED"]


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    await register(client, "dee@example.com")
    wrong = await login(client, "dee@example.com", "not the password")
    unknown = await login(client, "nobody@example.com", "not the password")
    assert codes(wrong) == codes(unknown) == ["UNAUTHENTICATED"]
    assert wrong["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert wrong["data"] is None
    assert unknown["data"] is None


async def test_login_runs_bcrypt_for_unknown_emails_too_and_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client, "eve@example.com")
    calls: list[str] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        calls.append(threading.current_thread().name)
        return real(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", spy)
    await login(client, "eve@example.com", "wrong password")
    await login(client, "nobody@example.com", "wrong password")
    assert len(calls) == 2  # one check each: the same cost whether the account exists
    assert threading.main_thread().name not in calls


@pytest.mark.parametrize(
    ("password", "why"),
    [("short", "under 8 bytes"), ("é" * 37, "74 bytes in UTF-8"), ("x" * 73, "73 bytes")],
)
async def test_register_refuses_passwords_outside_8_to_72_bytes(
    client: httpx.AsyncClient, password: str, why: str
) -> None:
    body = await gql(
        client,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        {"i": {"email": "fay@example.com", "password": password, "fullName": "Fay"}},
    )
    assert codes(body) == ["BAD_USER_INPUT"], why
    assert body["errors"][0]["extensions"]["field"] == "password"


async def test_login_with_a_very_long_password_is_just_wrong(client: httpx.AsyncClient) -> None:
    await register(client, "gus@example.com")
    assert codes(await login(client, "gus@example.com", "y" * 500)) == ["UNAUTHENTICATED"]


async def test_register_refuses_a_taken_email_in_any_case(client: httpx.AsyncClient) -> None:
    await register(client, "hal@example.com")
    body = await gql(
        client,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        {"i": {"email": "HAL@Example.COM", "password": PASSWORD, "fullName": "Hal"}},
    )
    assert codes(body) == ["ALREADY_EXISTS"]


@pytest.mark.parametrize(
    ("email", "full_name", "field"),
    [("not-an-email", "Ivy", "email"), ("ivy@example.com", "   ", "fullName")],
)
async def test_register_validates_fields(
    client: httpx.AsyncClient, email: str, full_name: str, field: str
) -> None:
    body = await gql(
        client,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        {"i": {"email": email, "password": PASSWORD, "fullName": full_name}},
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field


async def test_an_access_token_is_not_a_refresh_token_and_back(client: httpx.AsyncClient) -> None:
    account = await register(client, "jo@example.com")
    assert codes(await gql(client, REFRESH, {"refreshToken": account["accessToken"]})) == [
        "UNAUTHENTICATED"
    ]
    await gql(client, ME, token=account["refreshToken"], expect_status=401)


async def test_expired_access_token_gets_401(client: httpx.AsyncClient) -> None:
    account = await register(client, "kim@example.com")
    # used while live first, so that its verified claims are remembered (tokens._VERIFIED)
    assert (await gql(client, ME, token=account["accessToken"]))["data"]["me"] is not None
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=16), tick=False):
        response = await client.post(
            "/graphql",
            json={"query": ME},
            headers={"Authorization": f"Bearer {account['accessToken']}"},
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    # the refresh token still works until its own expiry, then not
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=16), tick=False):
        assert (await gql(client, REFRESH, {"refreshToken": account["refreshToken"]}))["data"]
    with time_machine.travel(datetime.now(UTC) + timedelta(days=8), tick=False):
        body = await gql(client, REFRESH, {"refreshToken": account["refreshToken"]})
    assert codes(body) == ["UNAUTHENTICATED"]


async def test_forged_tokens_are_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client, "lu@example.com")
    claims = jwt.decode(
        account["accessToken"], options={"verify_signature": False}, algorithms=["HS256"]
    )
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    wrong_key = jwt.encode(claims, "another-key-that-is-long-enough-for-hs256!!", algorithm="HS256")
    wrong_audience = jwt.encode({**claims, "aud": "elsewhere"}, settings.secret_key, "HS256")
    for token in (unsigned, wrong_key, wrong_audience, "garbage", account["accessToken"] + "x"):
        await gql(client, ME, token=token, expect_status=401)
    response = await client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert response.status_code == 401


async def test_a_token_for_an_unknown_session_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client, "mo@example.com")
    user_id = uuid.UUID(account["user"]["id"])
    token, _ = tokens.issue(settings, kind="access", user_id=user_id, session_id=uuid.uuid4())
    await gql(client, ME, token=token, expect_status=401)


async def test_me_needs_authentication(client: httpx.AsyncClient) -> None:
    body = await gql(client, ME)
    assert codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


async def test_update_me_changes_the_name_freely(client: httpx.AsyncClient) -> None:
    account = await register(client, "ned@example.com")
    body = await gql(
        client, UPDATE_ME, {"input": {"fullName": "Ned Stark"}}, token=account["accessToken"]
    )
    assert body["data"]["updateMe"]["fullName"] == "Ned Stark"


async def test_update_me_needs_the_current_password_for_email_and_password(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client, "ola@example.com")
    token = account["accessToken"]
    for change in ({"email": "ola2@example.com"}, {"newPassword": "a new password"}):
        missing = await gql(client, UPDATE_ME, {"input": change}, token=token)
        wrong = await gql(
            client, UPDATE_ME, {"input": {**change, "currentPassword": "nope nope"}}, token=token
        )
        for body in (missing, wrong):
            assert codes(body) == ["BAD_USER_INPUT"]
            assert body["errors"][0]["extensions"]["field"] == "currentPassword"

    changed = await gql(
        client,
        UPDATE_ME,
        {"input": {"email": "Ola2@example.com", "currentPassword": PASSWORD}},
        token=token,
    )
    assert changed["data"]["updateMe"]["email"] == "ola2@example.com"


async def test_a_new_password_works_and_ends_other_sessions(client: httpx.AsyncClient) -> None:
    account = await register(client, "pam@example.com")
    other = (await login(client, "pam@example.com"))["data"]["login"]
    body = await gql(
        client,
        UPDATE_ME,
        {"input": {"currentPassword": PASSWORD, "newPassword": "brand new secret"}},
        token=account["accessToken"],
    )
    assert "errors" not in body
    assert codes(await login(client, "pam@example.com")) == ["UNAUTHENTICATED"]
    assert (await login(client, "pam@example.com", "brand new secret"))["data"]["login"]
    await gql(client, ME, token=other["accessToken"], expect_status=401)
    assert (await gql(client, ME, token=account["accessToken"]))["data"]["me"]


async def test_update_me_refuses_a_taken_email(client: httpx.AsyncClient) -> None:
    await register(client, "quin@example.com")
    account = await register(client, "rex@example.com")
    body = await gql(
        client,
        UPDATE_ME,
        {"input": {"email": "QUIN@example.com", "currentPassword": PASSWORD}},
        token=account["accessToken"],
    )
    assert codes(body) == ["ALREADY_EXISTS"]
