"""The browser side: the dashboard's static files, the GraphiQL page, and their security headers.

Everything a page loads comes from the package (`bookit_graphql/static/`, the
vendored libraries with their licences under `static/vendor/`), so the pages
work offline and under a Content-Security-Policy that allows only BookIt's own
origin. No domain is known here: the dashboard speaks to `/graphql` like any
other client.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"

# Scripts and styles from this origin only (no inline script, no eval), sockets
# to this origin ('self' covers ws: and wss: of the same host), and fonts and
# images also as data: URLs (GraphiQL's stylesheet embeds its fonts). No page
# may be framed (clickjacking), and no URL leaks in a Referer.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


_RAW_HEADERS = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP response.

    They change nothing for a JSON client (a policy applies to documents a
    browser renders); a header a route set itself is kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # raw header pairs, as ASGI has them: this runs on every response
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in _RAW_HEADERS if pair[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@cache
def page(name: str) -> str:
    """An HTML page of the package, read once."""
    return (STATIC / name).read_text(encoding="utf-8")


def graphiql_page() -> HTMLResponse:
    """GraphiQL from the vendored build (view.py serves it on a browser's GET /graphql)."""
    return HTMLResponse(page("graphiql/index.html"))


def dashboard_routes() -> list[BaseRoute]:
    """/admin (the dashboard's single page) and /static (its scripts, and GraphiQL's)."""

    async def admin(request: Request) -> Response:
        return HTMLResponse(page("admin/index.html"), headers={"Cache-Control": "no-cache"})

    async def to_admin(request: Request) -> Response:
        return RedirectResponse("/admin/", status_code=308)

    return [
        Route("/admin", to_admin, methods=["GET"]),
        Route("/admin/", admin, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def static_routes() -> list[BaseRoute]:
    """Only /static: what GraphiQL needs when the dashboard is off."""
    return [Mount("/static", StaticFiles(directory=STATIC), name="static")]
