"""GraphiQL on a browser's GET /graphql: the vendored build, from BookIt's own origin only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from playwright.async_api import expect

from bookit_graphql.web import CONTENT_SECURITY_POLICY
from tests.conftest import Server


async def test_graphiql_runs_a_query_offline(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient
) -> None:
    # given the page as a browser asks for it
    answer = await api.get("/graphql", headers={"Accept": "text/html"})
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert "cdn" not in answer.text.lower()
    assert "https://" not in answer.text

    page = await new_page()
    await page.goto(f"{server.base}/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    await expect(editor).to_be_visible()

    # when a query is typed and run
    await page.evaluate(
        "document.querySelector('.graphiql-query-editor .CodeMirror')"
        ".CodeMirror.setValue('{ services(first: 1) { totalCount } }')"
    )
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    # then the answer is shown (every request stayed on 127.0.0.1: the page fixture checks)
    await expect(page.locator(".result-window")).to_contain_text('"totalCount": 0')
