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


# As raw ASGI header pairs, for RequestLog to add to every HTTP response (one
# middleware layer less per request than a middleware of their own).
RAW_SECURITY_HEADERS = tuple(
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
)


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
