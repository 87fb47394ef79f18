"""The exceptions that the API answers with, and the one place that maps them to codes.

    BookItError                      INTERNAL_SERVER_ERROR (never raised itself)
    ├── Unauthenticated              UNAUTHENTICATED
    │   └── InvalidToken             UNAUTHENTICATED, and HTTP 401 for the whole request
    ├── Forbidden                    FORBIDDEN
    ├── NotFound                     NOT_FOUND
    ├── BadUserInput                 BAD_USER_INPUT (extensions.field)
    │   ├── UnsupportedMediaType     BAD_USER_INPUT, and HTTP 415 (a POST that is not JSON)
    │   └── CursorExpired            BAD_USER_INPUT (field `after`, reason EXPIRED): pruned log
    ├── BookingConflict              BOOKING_CONFLICT (extensions.conflictingRange)
    ├── SlotUnavailable              SLOT_UNAVAILABLE (extensions.reason)
    ├── InvalidState                 INVALID_STATE
    ├── AlreadyExists                ALREADY_EXISTS
    ├── RateLimited                  RATE_LIMITED (extensions.retryAfter; HTTP 429, Retry-After)
    ├── QueryTooComplex              QUERY_TOO_COMPLEX (extensions.limit)
    │   └── RequestTooLarge          QUERY_TOO_COMPLEX, and HTTP 413 (the body is too big)
    ├── ServiceUnavailable           SERVICE_UNAVAILABLE (HTTP 503)
    ├── PersistedQueryNotFound       PERSISTED_QUERY_NOT_FOUND (HTTP 200): an unknown document id
    └── PersistedQueryNotInList      PERSISTED_QUERY_NOT_IN_LIST: free text, only ids accepted

Anything else that escapes a resolver is masked as INTERNAL_SERVER_ERROR and
logged with the request id; a lost database connection becomes
SERVICE_UNAVAILABLE. A document over the parser's limits (tokens, length,
nesting) is QUERY_TOO_COMPLEX, any other syntax error GRAPHQL_PARSE_FAILED.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import psycopg
import sqlalchemy.exc
from graphql import GraphQLError, GraphQLSyntaxError

log = logging.getLogger(__name__)


class BookItError(Exception):
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    message: ClassVar[str] = "Unexpected error."

    def __init__(self, message: str | None = None, **extensions: Any) -> None:
        super().__init__(message or self.message)
        self.extensions = extensions


class Unauthenticated(BookItError):
    code = "UNAUTHENTICATED"
    message = "Authentication required."


class InvalidToken(Unauthenticated):
    message = "The access token is invalid, expired or revoked."


class Forbidden(BookItError):
    code = "FORBIDDEN"
    message = "You are not allowed to do this."


class NotFound(BookItError):
    code = "NOT_FOUND"
    message = "Not found."


class BadUserInput(BookItError):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        if field is not None:
            extensions["field"] = field
        super().__init__(message, **extensions)


class UnsupportedMediaType(BadUserInput):
    def __init__(self) -> None:
        super().__init__("A POST to /graphql must be JSON: send Content-Type: application/json.")


class CursorExpired(BadUserInput):
    def __init__(self) -> None:
        super().__init__(
            "The events after this cursor are no longer kept (see BOOKIT_EVENT_RETENTION_DAYS): "
            "resubscribe without `after` and read the current state.",
            field="after",
            reason="EXPIRED",
        )


class BookingConflict(BookItError):
    code = "BOOKING_CONFLICT"
    message = "The time overlaps another booking of this service."


class SlotUnavailable(BookItError):
    """The service takes no booking at that time: `reason` is CLOSED, TOO_SOON or TOO_FAR."""

    code = "SLOT_UNAVAILABLE"
    messages: ClassVar[dict[str, str]] = {
        "CLOSED": "The service is closed then (its hours, in its time zone, or a closure).",
        "TOO_SOON": "That is sooner than the service's minimum notice.",
        "TOO_FAR": "That is further ahead than the service takes bookings.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.messages[reason], reason=reason)


class InvalidState(BookItError):
    code = "INVALID_STATE"


class AlreadyExists(BookItError):
    code = "ALREADY_EXISTS"


class RateLimited(BookItError):
    code = "RATE_LIMITED"
    message = "Too many attempts; retry later."


class QueryTooComplex(BookItError):
    code = "QUERY_TOO_COMPLEX"
    message = "The query is over the server's limits."


class RequestTooLarge(QueryTooComplex):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The request body is larger than {max_bytes} bytes.", limit="bodySize")


class ServiceUnavailable(BookItError):
    code = "SERVICE_UNAVAILABLE"
    message = "The service is unavailable for now; retry later."


class PersistedQueryNotFound(BookItError):
    code = "PERSISTED_QUERY_NOT_FOUND"
    message = "PersistedQueryNotFound"  # Apollo's clients match this text to send the query


class PersistedQueryNotInList(BookItError):
    code = "PERSISTED_QUERY_NOT_IN_LIST"
    message = (
        "Only trusted documents are accepted: send the documentId of a registered document "
        "(free-form query text is for admins)."
    )


HTTP_STATUS = {"SERVICE_UNAVAILABLE": 503, "RATE_LIMITED": 429}
SERVICE_RETRY_AFTER = 5  # seconds a client waits before retrying a 503

# graphql-core's parser ends the errors of its limits (tokens, comments, source
# length, nesting) so: the document is too big, not malformed.
_PARSER_LIMIT = "Parsing aborted."
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")

_DATABASE_DOWN = (
    psycopg.OperationalError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    ConnectionError,
)


def as_bookit_error(error: BaseException | None) -> BookItError | None:
    """The domain error that `error` stands for, or None if it is unexpected."""
    if isinstance(error, BookItError):
        return error
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return ServiceUnavailable()
    if isinstance(error, _DATABASE_DOWN):
        return ServiceUnavailable()
    if isinstance(error, UnicodeEncodeError) or _is_nul_refused(error):
        # Text that a client sent and no column can hold: an unpaired surrogate
        # (a JSON escape such as "\ud800" decodes to one; UTF-8 cannot encode it)
        # or a NUL character (PostgreSQL text refuses it).
        return BadUserInput("Text cannot contain NUL characters or unpaired surrogates.")
    return None


def _is_nul_refused(error: BaseException | None) -> bool:
    """psycopg refusing a str with a NUL in it (before sending, so no SQLSTATE)."""
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        return _is_nul_refused(error.orig)
    return isinstance(error, psycopg.DataError) and "NUL (0x00)" in str(error)


def coded(
    error: GraphQLError, *, phase: str, request_id: str = "-", suggestions: bool = True
) -> GraphQLError:
    """`error` with the contract's `extensions.code`, masked if it is unexpected.

    `phase` is where it arose: "parse", "validate" or "execute". Without
    `suggestions`, graphql-core's "Did you mean ...?" hints (which spell out
    the schema's names) are cut from validation and variable errors.
    """
    if not suggestions and "Did you mean" in error.message:
        error = _with(error, _SUGGESTION.sub("", error.message), dict(error.extensions or {}))
    extensions = dict(error.extensions or {})
    if "code" in extensions:  # set by a permission or an earlier pass
        return error
    known = as_bookit_error(error.original_error)
    if known is not None:
        if isinstance(known, ServiceUnavailable) and known is not error.original_error:
            log.warning("database unavailable [request %s]: %s", request_id, error.original_error)
        return _with(error, str(known), {**known.extensions, "code": known.code})
    if phase == "parse" or isinstance(error, GraphQLSyntaxError):
        if error.message.endswith(_PARSER_LIMIT):
            limit = "depth" if "nested too deeply" in error.message else "tokens"
            if "Source contains" in error.message:
                limit = "bodySize"
            known = QueryTooComplex(error.message, limit=limit)
            return _with(error, error.message, {**known.extensions, "code": known.code})
        return _with(error, error.message, {"code": "GRAPHQL_PARSE_FAILED"})
    if phase == "validate":
        # a scalar that refuses a literal (a DateTime with no offset) is bad input
        code = "GRAPHQL_VALIDATION_FAILED" if error.original_error is None else "BAD_USER_INPUT"
        return _with(error, error.message, {"code": code})
    if error.path is None:  # graphql-core refused the variables
        return _with(error, error.message, {"code": "BAD_USER_INPUT"})
    log.error("unexpected error [request %s]", request_id, exc_info=error.original_error)
    return _with(error, BookItError.message, {"code": BookItError.code}, mask=True)


def _with(
    error: GraphQLError, message: str, extensions: dict[str, Any], *, mask: bool = False
) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None if mask else error.original_error,
        extensions=extensions,
    )
