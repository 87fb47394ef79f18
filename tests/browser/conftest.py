"""Playwright driving Debian's Chromium against a real `bookit serve`.

Every page is watched: a request to anything but 127.0.0.1 is blocked and fails
the test, as does an uncaught error, a console error or a Content-Security-Policy
violation, and every GraphQL document a page sends (by its id, one of the
package's documents) must be one of the contract's operations, printed the same.
Screenshots go to BOOKIT_SCREENSHOTS (default /tmp/bookit-screenshots), outside
the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, print_ast
from playwright.async_api import Browser, BrowserContext, Page, Request, Route, async_playwright

from bookit_graphql import documents
from tests.conftest import Server

CHROMIUM = Path(os.environ.get("BOOKIT_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("BOOKIT_SCREENSHOTS", "/tmp/bookit-screenshots"))
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
CONTRACT = Path(__file__).parents[1] / "contract"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 760}

# Runs before any page script: CSP violations and uncaught rejections become console errors.
WATCH = """
addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
"""


def contract_operations() -> dict[str, str]:
    """Each operation of the contract (every file of it) by name, printed."""
    return {
        node.name.value: print_ast(node)
        for path in sorted(CONTRACT.glob("*.graphql"))
        for node in parse(path.read_text()).definitions
        if isinstance(node, OperationDefinitionNode) and node.name
    }


@dataclass
class Watch:
    """What the pages of one test did wrong, and what they sent."""

    problems: list[str] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)

    def check(self) -> None:
        assert not self.problems, "the browser saw:\n" + "\n".join(self.problems)
        known = contract_operations()
        shipped = documents.package_documents()
        for body in self.documents:
            # sent by id: the text is the package's, and the id is its hash
            text = shipped[body["documentId"]].text
            assert documents.document_id(text) == body["documentId"]
            for node in parse(text).definitions:
                if isinstance(node, OperationDefinitionNode):
                    name = node.name.value if node.name else "<anonymous>"
                    assert name in known, f"{name} is not a contract operation"
                    assert print_ast(node) == known[name], f"{name} differs from the contract"


def install_chromium() -> None:
    """Debian's Chromium, installed with apt-get where it is missing and we may (root, apt).

    So the README's test command needs nothing but Python on a Debian machine run
    as root, as CI is; anywhere else the tests fail and say what to install.
    """
    if CHROMIUM.is_file() or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        subprocess.run(command, env=environ, check=False, capture_output=True, timeout=900)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    install_chromium()
    if not CHROMIUM.is_file():  # noqa: ASYNC240 (once, before any page)
        pytest.fail(
            f"no Chromium at {CHROMIUM}: apt-get install chromium (or set BOOKIT_CHROMIUM)",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    print(f"\nscreenshots of the dashboard: {SCREENSHOTS}")  # noqa: T201
    return SCREENSHOTS


@pytest.fixture
async def watch() -> AsyncIterator[Watch]:
    watched = Watch()
    yield watched
    watched.check()


@pytest.fixture
async def new_page(browser: Browser, watch: Watch) -> AsyncIterator[Callable[..., Any]]:
    """Opens watched pages: `await new_page(viewport=PHONE)`."""
    contexts: list[BrowserContext] = []

    async def guard(route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname != "127.0.0.1" and not request.url.startswith("data:"):
            watch.problems.append(f"a request left 127.0.0.1: {request.url}")
            await route.abort()
            return
        from_dashboard = urlsplit(request.frame.url).path.startswith("/admin")
        if from_dashboard and request.method == "POST" and urlsplit(request.url).path == "/graphql":
            watch.documents.append(json.loads(request.post_data or "{}"))
        await route.continue_()

    async def open_page(viewport: dict[str, int] = DESKTOP) -> Page:
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        contexts.append(context)
        await context.route("**/*", guard)
        await context.add_init_script(WATCH)
        await context.add_init_script(path=AXE)  # like a test's own extension: the CSP allows it
        page = await context.new_page()
        page.on(
            "websocket",
            lambda socket: (
                urlsplit(socket.url).hostname != "127.0.0.1"
                and watch.problems.append(f"a WebSocket left 127.0.0.1: {socket.url}")
            ),
        )
        page.on("pageerror", lambda error: watch.problems.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: (
                message.type == "error" and watch.problems.append(f"console error: {message.text}")
            ),
        )
        return page

    yield open_page
    for context in contexts:
        await context.close()


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    return start_server("server.log")


@pytest.fixture
async def api(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        yield client


async def axe_findings(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    result = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
