"""The GraphQL-over-HTTP view: auth from the bearer token, status codes, media types."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import orjson
import psycopg
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, GraphQLSchema
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, GraphQLRequestProtocol
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    StartMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from bookit_graphql import documents, metrics
from bookit_graphql.config import Settings
from bookit_graphql.context import Context
from bookit_graphql.direct import DIRECT, Direct
from bookit_graphql.errors import (
    SERVICE_RETRY_AFTER,
    BookItError,
    InvalidToken,
    PersistedQueryNotFound,
    QueryTooComplex,
    RequestTooLarge,
    UnsupportedMediaType,
    as_bookit_error,
    coded,
)
from bookit_graphql.fast import FastPath
from bookit_graphql.roles import Role
from bookit_graphql.schema import validation_rules
from bookit_graphql.web import graphiql_page

GRAPHQL_RESPONSE = "application/graphql-response+json"
AUTH_CLOSE = 4403  # the contract's close code for a refused, expired or revoked token
# What a POST may be: a JSON body, per GraphQL over HTTP. Forms, multipart and
# text/plain are what a page on another site can send without a CORS preflight.
JSON = "application/json"


def error_response(
    status: int, error: BookItError | str, *, code: str = "", count: bool = False
) -> Response:
    """A refusal before any operation ran, with its code (counted, with `count`)."""
    message = str(error)
    extensions = dict(error.extensions) if isinstance(error, BookItError) else {}
    extensions["code"] = code or (
        error.code if isinstance(error, BookItError) else "BAD_USER_INPUT"
    )
    if count:
        metrics.count_errors([extensions["code"]])
    body = {"errors": [{"message": message, "extensions": extensions}]}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 503:
        headers["Retry-After"] = str(SERVICE_RETRY_AFTER)
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


@dataclass
class RequestData(GraphQLRequestData):
    """Strawberry's request data, with the request's fields as sent (documents.resolve)."""

    fields: dict[str, Any] = dataclass_field(default_factory=dict)


class Authenticator(Protocol):
    """Who a bearer token is: the users domain's to say (app.py passes users.bearer.Bearer)."""

    async def authenticate(self, context: Context, access_token: str) -> datetime:
        """Make the token's user the caller (or raise InvalidToken); when the token expires."""

    def watch(
        self, user_id: uuid.UUID, recheck: Callable[[], Coroutine[Any, Any, None]]
    ) -> Callable[[], None]:
        """Run `recheck` when the user's rights change, until the returned function is called."""


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with a code on the error for one operation too many, and
    each operation's task able to send its `next` frames directly (Direct)."""

    view: GraphQLView

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_subscribe(message)  # Strawberry closes the socket
            return
        limit = self.max_subscriptions_per_connection
        if limit is not None and len(self.operations) >= limit:
            # Strawberry's own message, which clients may match, with the contract's code
            await self._refuse(
                message, QueryTooComplex("Subscription limit reached", limit="subscriptions")
            )
            return
        resolved = await socket_document(self.view, self.context, message["payload"])  # type: ignore[arg-type]
        if isinstance(resolved, GraphQLError):
            payload = [resolved.formatted]
            await self.send_message({"id": message["id"], "type": "error", "payload": payload})
            return
        # the operation's task (made in there) copies it: its metrics label
        token = documents.current.set(resolved.document)
        try:
            await super().handle_subscribe(message)
        finally:
            documents.current.reset(token)

    async def _refuse(self, message: SubscribeMessage, refused: BookItError) -> None:
        error = refusal(refused, self.context)
        payload = [error.formatted]
        await self.send_message({"id": message["id"], "type": "error", "payload": payload})

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        websocket = self.context.request
        if isinstance(websocket, WebSocket):  # the task's own context: this operation's
            DIRECT.set(Direct(operation, websocket, websocket.scope.get("state", {}).get("send")))
        with metrics.open_subscription():
            await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (legacy), counting its open operations."""

    view: GraphQLView

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """Strawberry's, except that a refused token closes the socket with the contract's
        4403, as graphql-transport-ws does (Strawberry closes it with 1011, an internal
        error, which clients take for a fault of the server and retry)."""
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await super().handle_connection_init(message)
            return
        self.context.connection_params = payload
        try:
            acknowledged = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as refused:
            await self.send_message({"type": "connection_error", "payload": refused.payload})
            await self.websocket.close(code=AUTH_CLOSE, reason="")
            return
        if isinstance(acknowledged, UnsetType) or acknowledged is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": acknowledged})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_start(self, message: StartMessage) -> None:
        if not self.connection_acknowledged:
            await super().handle_start(message)  # Strawberry closes the socket
            return
        resolved = await socket_document(self.view, self.context, message["payload"])  # type: ignore[arg-type]
        if isinstance(resolved, GraphQLError):
            refused: ErrorMessage = {
                "type": "error",
                "id": message["id"],
                "payload": resolved.formatted,
            }
            await self.send_message(refused)
            return
        token = documents.current.set(resolved.document)  # copied by the operation's task
        try:
            await super().handle_start(message)
        finally:
            documents.current.reset(token)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        with metrics.open_subscription():
            await super().handle_async_results(operation_id, query, operation_name, variables)


def refusal(refused: BookItError, context: Context) -> GraphQLError:
    """A socket operation refused before it ran, as its coded error (counted)."""
    error = coded(GraphQLError(str(refused), original_error=refused), phase="execute")
    if context.settings.metrics:
        metrics.count_errors([str((error.extensions or {})["code"])])
    return error


async def socket_document(
    view: GraphQLView, context: Context, payload: dict[str, Any]
) -> documents.Resolved | GraphQLError:
    """A WebSocket operation's text (put into `payload`) and trusted document, or its refusal."""
    try:
        resolved = await view.resolve(payload, context)
    except (BookItError, SQLAlchemyError, psycopg.Error, OSError) as error:
        known = as_bookit_error(error)
        if known is None:
            raise
        return refusal(known, context)
    if resolved.query is not None:
        payload["query"] = resolved.query
    return resolved


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: Any,
        settings: Settings,
        *,
        authenticator: Authenticator,
        registry: documents.Registry,
    ) -> None:
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        if settings.legacy_graphql_ws:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=protocols,
            multipart_uploads_enabled=False,
            allowed_origins=settings.cors_origins,
            max_subscriptions_per_connection=settings.max_subscriptions_per_socket,
        )
        self.settings = settings
        self.authenticator = authenticator
        self.documents = registry
        self.graphql_schema: GraphQLSchema = schema._schema  # graphql-core's, to validate with
        self._tasks: set[asyncio.Task[None]] = set()
        # known queries' plain successes, before Strawberry runs (fast.py)
        self.fast = FastPath(self, rules=validation_rules(settings)) if settings.fast_path else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            try:
                await super().__call__(scope, receive, send)
            finally:
                context: Context | None = scope.get("state", {}).pop("context", None)
                for cleanup in context.closing if context else ():
                    cleanup()
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            await self._http(scope, receive, send)
        finally:
            # get_context's request.state.context and the context's request make a cycle,
            # which only the garbage collector would free: some 20 objects a request, and
            # a collection every 35 requests or so
            scope.get("state", {}).pop("context", None)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        count = self.settings.metrics
        try:
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.settings.max_body_bytes:
                raise RequestTooLarge(self.settings.max_body_bytes)  # read none of it
            request = Request(scope, self._capped(receive))
            found = None
            if self.fast is not None and scope["method"] == "POST":
                found = await self.fast.answer(request)  # its body stays read for Strawberry
            response = found if found is not None else await self.run(request)
        except RequestTooLarge as error:
            response = error_response(413, error, count=count)
        except UnsupportedMediaType as error:
            response = error_response(415, error, count=count)
        except QueryTooComplex as error:  # a batch
            response = error_response(400, error, count=count)
        except HTTPException as error:
            response = error_response(error.status_code, error.reason, count=count)
        except InvalidToken as error:
            response = error_response(401, error, count=count)
        except (SQLAlchemyError, psycopg.Error, OSError) as error:
            known = as_bookit_error(error)
            if known is None:
                raise
            response = error_response(503, known, count=count)
        await response(scope, receive, send)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # a GET by document id (or APQ hash) is an operation, not a browser's visit
        params = request.query_params
        return (
            super().should_render_graphql_ide(request)
            and "documentId" not in params
            and "extensions" not in params
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        # the vendored GraphiQL, not Strawberry's page (which loads it from a CDN)
        return graphiql_page()

    def _capped(self, receive: Receive) -> Receive:
        """`receive` that stops a body (chunked, or longer than it said) at max_body_bytes."""
        limit = self.settings.max_body_bytes
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(limit)
            return message

        return capped

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """A GET's parameters or a POST's JSON body, with every field kept (documentId)."""
        if request.method == "GET":
            data = self.parse_query_params(request.query_params)
        else:
            # the media type without its parameters (charset)
            media_type = (request.content_type or "").partition(";")[0].strip().lower()
            if media_type != JSON:
                raise UnsupportedMediaType()
            data = self.parse_json(await request.get_body())
        if isinstance(data, list):
            self._validate_batch_request(data, protocol="http")  # refuses every batch
        # Strawberry's checks and messages
        for name, kind in (("query", str), ("variables", dict), ("extensions", dict)):
            if not isinstance(data.get(name), kind | None):
                article = "a string" if kind is str else "an object"
                raise HTTPException(
                    400, f"The GraphQL operation's `{name}` must be {article} or null, if provided."
                )
        return RequestData(
            query=data.get("query"),
            variables=data.get("variables"),
            operation_name=data.get("operationName"),
            extensions=data.get("extensions"),
            fields=data,
        )

    async def resolve(self, fields: dict[str, Any], context: Context | None) -> documents.Resolved:
        """The text and trusted document of a request's fields (documents.resolve);
        without a context (the fast path, by id alone), as for a caller who is no admin."""
        user = context.user if context is not None else None
        return await documents.resolve(
            fields,
            self.documents,
            self.settings,
            admin=user is not None and user.role == Role.ADMIN,
            schema=self.graphql_schema,
        )

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        """Strawberry's, on the text that the request's document id stands for.

        The trusted document (or None, for free-form text) is `documents.current`
        while it runs, and its id `request.state.document_id`.
        """
        assert isinstance(request_data, RequestData)  # parse_http_body refuses batches
        try:
            resolved = await self.resolve(request_data.fields, context)
        except BookItError as refused:
            return self._refused(refused, context, sub_response)
        request_data.query = resolved.query
        request.state.document_id = resolved.document.id if resolved.document else None
        token = documents.current.set(resolved.document)
        try:
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        finally:
            documents.current.reset(token)

    def _refused(
        self, refused: BookItError, context: Context, sub_response: Response
    ) -> ExecutionResult:
        """A request refused before parsing (its document id): answered as a GraphQL error."""
        if isinstance(refused, PersistedQueryNotFound):
            sub_response.status_code = 200  # the contract's (and Apollo's clients')
        context.log["errors"] = [refused.code]
        if self.settings.metrics:
            metrics.count_errors([refused.code])
        error = GraphQLError(str(refused), extensions={**refused.extensions, "code": refused.code})
        return ExecutionResult(data=None, errors=[error])

    def _validate_batch_request(
        self, request_data: list[GraphQLRequestData], protocol: GraphQLRequestProtocol
    ) -> None:
        raise QueryTooComplex(
            "Batching is off: send one operation per request.", limit="operations"
        )

    async def get_context(
        self, request: Request | WebSocket, response: Any, *, presume: bool = False
    ) -> Context:
        """The request's context, its caller authenticated (InvalidToken: 401). `presume`:
        a session found live before may be taken as it was, checked by the first read
        (Context.check; the fast path's, which settles it before it answers)."""
        state = request.app.state
        context = Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            settings=self.settings,
            session_factory=state.session_factory,
            reads=state.reads,
            rate_limiter=state.rate_limiter,
            hub=state.hub,
            request_id=getattr(request.state, "request_id", "-"),
            log=getattr(request.state, "log", {}),
            fragments=isinstance(request, Request),  # create_response's orjson writes them
            presume=presume,
        )
        request.state.context = context
        if isinstance(request, Request):
            if GRAPHQL_RESPONSE in request.headers.get("accept", ""):
                response.media_type = GRAPHQL_RESPONSE
            header = request.headers.get("authorization")
            if header is not None:
                await self.authenticate(context, header)
        return context

    async def authenticate(self, context: Context, header: str) -> datetime:
        """Authenticate from an Authorization header; when its token expires."""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken()
        expires_at = await self.authenticator.authenticate(context, token.strip())
        assert context.user is not None
        context.log["user_id"] = str(context.user.id)
        return expires_at

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a socket from its connection_init payload, and watch the token.

        A missing or bad token is refused (4403). The socket closes (4403) when the
        token expires, or when its session is revoked or the user's rights change
        on any instance (a NOTIFY re-checks it).
        """
        params = context.connection_params or {}
        header = params.get("Authorization", params.get("authorization"))
        if not isinstance(header, str):
            raise ConnectionRejectionError({"reason": "an access token is required"})
        try:
            expires_at = await self.authenticate(context, header)
        except InvalidToken as error:
            raise ConnectionRejectionError({"reason": str(error)}) from error
        websocket = context.request
        assert isinstance(websocket, WebSocket)
        assert context.user is not None
        role = context.user.role

        async def close(reason: str) -> None:
            with contextlib.suppress(RuntimeError):  # already closed
                await websocket.close(AUTH_CLOSE, reason)

        async def recheck() -> None:
            try:
                await self.authenticate(context, header)
            except InvalidToken:
                await close("token revoked")
                return
            if context.user is None or context.user.role != role:
                await close("permissions changed")

        loop = asyncio.get_running_loop()
        expiry = loop.call_later(
            max(0.0, (expires_at - datetime.now(UTC)).total_seconds()),
            lambda: self._background(close("token expired")),
        )
        context.closing.append(expiry.cancel)
        context.closing.append(self.authenticator.watch(context.user.id, recheck))
        return cast(UnsetType, UNSET)

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = await super().process_result(request, result)  # type: ignore[arg-type]
        failed_before_execution = (
            result.data is None
            and result.errors
            and all(error.path is None for error in result.errors)
        )
        if failed_before_execution:
            # GraphQL over HTTP: no `data` entry when the request never executed;
            # with the new media type, a 4xx status as well.
            data.pop("data", None)
            context: Context | None = getattr(request.state, "context", None)
            if (
                context is not None
                and context.response is not None
                and context.response.media_type == GRAPHQL_RESPONSE
                and context.response.status_code is None
            ):
                context.response.status_code = 400
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = Response(
            orjson.dumps(response_data),  # bytes: HTTP needs no str (see encode_json)
            status_code=sub_response.status_code or 200,
            media_type=sub_response.media_type or "application/json",
        )
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response

    def encode_json(self, data: object) -> str:
        # A str, not bytes: Strawberry sends bytes over WebSocket as binary
        # frames, which graphql-ws clients (and browsers) cannot read.
        return orjson.dumps(data).decode()

    def parse_json(self, data: str | bytes) -> Any:
        """A JSON object (or a batch's list); HTTP 400 for anything else.

        Strawberry's own let a body that is not UTF-8 (UnicodeDecodeError) or
        is a bare string or number (AttributeError) escape as an HTTP 500.
        """
        try:
            parsed = json.loads(data)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "Expected a JSON object.")
        return parsed
