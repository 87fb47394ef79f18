"""create_app(): the Starlette application with /graphql, /healthz, /readyz, /metrics, /admin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from bookit_graphql import documents, logs, metrics, tracing
from bookit_graphql.bookings.events import EventHub
from bookit_graphql.config import Settings
from bookit_graphql.db import (
    Reads,
    create_engine,
    create_session_factory,
    current_revisions,
    head_revisions,
    libpq_url,
)
from bookit_graphql.hub import Hub
from bookit_graphql.integrations import outcomes
from bookit_graphql.integrations.worker import Worker
from bookit_graphql.ratelimit import RateLimiter
from bookit_graphql.schema import build_schema
from bookit_graphql.users.bearer import Bearer
from bookit_graphql.view import GraphQLView
from bookit_graphql.web import RAW_SECURITY_HEADERS, dashboard_routes, static_routes

GRAPHQL = "/graphql"


class GraphQLFirst:
    """ASGI middleware, the innermost: a POST to /graphql goes straight to the view.

    Starlette's exception middleware and router would only find the view (the route
    takes POST, has no path parameters, and the view answers its own errors); for
    the reads that are the most frequent requests, their layers cost a tenth of the
    request's CPU. The outer layers (Starlette's 500, the request log, CORS) stay.
    """

    def __init__(self, app: ASGIApp, view: ASGIApp) -> None:
        self.app, self.view = app, view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == GRAPHQL
            and not scope.get("root_path")
        ):
            await self.view(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(settings: Settings, database_url: str) -> Starlette:
    if settings.tracing:
        tracing.start()
    engine = create_engine(database_url)
    reads = Reads(database_url)
    if tracing.tracer is not None:
        tracing.instrument(engine)
    pools = metrics.Pools(engine, reads)
    scraped = metrics.Scrape(pools)
    # the domains that wait on a NOTIFY, on the one connection
    hub, bearer = Hub(libpq_url(database_url)), Bearer()
    hub.add(EventHub(queue_size=settings.subscriber_queue_size))
    hub.add(bearer)
    session_factory = create_session_factory(engine)
    # webhooks, mail and retention, unless `bookit worker` does them apart
    worker = Worker(settings, session_factory) if settings.worker else None
    if settings.metrics and metrics.record_delivery not in outcomes.LISTENERS:
        outcomes.LISTENERS.append(metrics.record_delivery)
    for listener in worker.listeners() if worker is not None else []:
        hub.add(listener)
    heads = head_revisions(database_url)
    registry = documents.Registry(reads, session_factory)
    view = GraphQLView(build_schema(settings), settings, authenticator=bearer, registry=registry)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        try:
            current = await asyncio.wait_for(current_revisions(engine), timeout=3)
        except (SQLAlchemyError, OSError, TimeoutError):
            return JSONResponse({"status": "unavailable", "database": False}, 503)
        ready = current == heads
        body = {
            "status": "ready" if ready else "migrations pending",
            "database": True,
            "revision": sorted(current),
            "head": sorted(heads),
        }
        return JSONResponse(body, 200 if ready else 503)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        if worker is not None:
            await worker.start()
        # one worker of several: its pools' use, in its files for the others' scrapes
        sampler = (
            asyncio.create_task(metrics.sample_forever(pools))
            if settings.metrics and metrics.multiprocess_mode()
            else None
        )
        yield
        if sampler is not None:
            sampler.cancel()
        metrics.process_exited()
        if worker is not None:
            await worker.stop()
        await hub.stop()
        await reads.close()
        await engine.dispose()
        if settings.tracing:
            tracing.stop()
        await asyncio.to_thread(logs.flush)  # the last requests' lines, off the loop

    middleware = [Middleware(logs.RequestLog, headers=RAW_SECURITY_HEADERS)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After", "WWW-Authenticate"],
            )
        )
    if settings.fast_path:  # with the fast path (off: Starlette's routing, to compare with)
        middleware.append(Middleware(GraphQLFirst, view=view))
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(GRAPHQL, view, methods=["GET", "POST"]),
        WebSocketRoute(GRAPHQL, view),
        *(dashboard_routes() if settings.admin else static_routes()),
    ]
    if settings.metrics and not settings.metrics_port:  # else `bookit serve` serves them
        routes.append(Route("/metrics", metrics.endpoint(scraped), methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.view = view
    app.state.engine = engine
    app.state.reads = reads
    app.state.metrics = scraped
    app.state.hub = hub
    app.state.session_factory = session_factory
    app.state.documents = registry
    app.state.worker = worker
    app.state.rate_limiter = RateLimiter(reads) if settings.rate_limit else None
    return app
