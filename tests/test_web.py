"""The browser side over HTTP: /admin and /static from the package, the GraphiQL page
from the vendored build, the security headers, and what the wheel ships."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bookit_graphql.app import create_app
from bookit_graphql.config import Settings
from bookit_graphql.web import CONTENT_SECURITY_POLICY, STATIC
from tests.helpers import gql

VENDORED = {  # each library beside its licence
    "htm-preact": ("standalone.module.js", "LICENSE-htm", "LICENSE-preact"),
    "graphql-ws": ("client.js", "graphql-ws.min.js", "LICENSE.md"),
    "graphiql": ("graphiql.min.js", "graphiql.min.css", "LICENSE"),
    "react": ("react.production.min.js", "LICENSE"),
    "react-dom": ("react-dom.production.min.js", "LICENSE"),
}


async def test_admin_is_one_page_with_its_scripts_from_this_origin(
    client: httpx.AsyncClient,
) -> None:
    redirect = await client.get("/admin")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/admin/"
    page = await client.get("/admin/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(source.startswith("/static/") or source == "data:," for source in sources)
    assert "<script>" not in page.text  # nothing inline: the CSP would refuse it
    script = await client.get("/static/admin/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


def test_the_policy_allows_no_inline_script_and_no_other_origin() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY


async def test_graphql_answers_are_unchanged_but_for_the_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers["x-content-type-options"] == "nosniff"
    body = await gql(client, "{ me { id }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_graphiql_is_the_vendored_build(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/vendor/graphiql/graphiql.min.js" in sources
    for source in sources:
        if source != "data:,":
            assert (await client.get(source)).status_code == 200, source


@pytest.fixture
async def without_admin(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    from dataclasses import replace

    application = create_app(replace(settings, admin=False), database_url)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookit.test") as c:
        yield c
    await application.state.reads.close()
    await application.state.engine.dispose()


async def test_the_dashboard_can_be_turned_off(without_admin: httpx.AsyncClient) -> None:
    assert (await without_admin.get("/admin/")).status_code == 404
    graphiql = await without_admin.get("/graphql", headers={"Accept": "text/html"})
    assert graphiql.status_code == 200  # GraphiQL still has its files
    assert (await without_admin.get("/static/vendor/graphiql/graphiql.min.js")).status_code == 200


def test_every_vendored_library_sits_beside_its_licence() -> None:
    for folder, files in VENDORED.items():
        for name in files:
            assert (STATIC / "vendor" / folder / name).is_file(), f"{folder}/{name}"


def test_the_wheel_ships_the_static_files(tmp_path: Path) -> None:
    # built from a copy: setuptools leaves build/ in the folder it builds
    root, source = Path(__file__).parents[1], tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(root / "bookit_graphql", source / "bookit_graphql", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("bookit_graphql-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"bookit_graphql/{path.relative_to(STATIC.parent)}"
        for path in STATIC.rglob("*")
        if path.is_file()
    }
    assert expected <= names, sorted(expected - names)[:5]
