"""The exceptions that the API answers with, and the one place that maps them to codes.

    BookItError                      INTERNAL_SERVER_ERROR (never raised itself)
    ├── Unauthenticated              UNAUTHENTICATED
    │   └── InvalidToken             UNAUTHENTICATED, and HTTP 401 for the whole request
    ├── Forbidden                    FORBIDDEN
    ├── NotFound                     NOT_FOUND
    ├── BadUserInput                 BAD_USER_INPUT (extensions.field)
    ├── BookingConflict              BOOKING_CONFLICT (extensions.conflictingRange)
    ├── InvalidState                 INVALID_STATE
    ├── AlreadyExists                ALREADY_EXISTS
    ├── RateLimited                  RATE_LIMITED (HTTP 429, Retry-After)
    ├── QueryTooComplex              QUERY_TOO_COMPLEX
    └── ServiceUnavailable           SERVICE_UNAVAILABLE (HTTP 503)

Anything else that escapes a resolver is masked as INTERNAL_SERVER_ERROR and
logged with the request id; a lost database connection becomes
SERVICE_UNAVAILABLE.
"""

from __future__ import annotations

import logging
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


class BookingConflict(BookItError):
    code = "BOOKING_CONFLICT"
    message = "The time overlaps another booking of this service."


class InvalidState(BookItError):
    code = "INVALID_STATE"


class AlreadyExists(BookItError):
    code = "ALREADY_EXISTS"


class RateLimited(BookItError):
    code = "RATE_LIMITED"
    message = "Too many attempts; retry later."


class QueryTooComplex(BookItError):
    code = "QUERY_TOO_COMPLEX"


class ServiceUnavailable(BookItError):
    code = "SERVICE_UNAVAILABLE"
    message = "The service is unavailable for now; retry later."


HTTP_STATUS = {"SERVICE_UNAVAILABLE": 503, "RATE_LIMITED": 429}

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
    return None


def coded(error: GraphQLError, *, phase: str, request_id: str = "-") -> GraphQLError:
    """`error` with the contract's `extensions.code`, masked if it is unexpected.

    `phase` is where it arose: "parse", "validate" or "execute".
    """
    extensions = dict(error.extensions or {})
    if "code" in extensions:  # set by a permission or an earlier pass
        return error
    known = as_bookit_error(error.original_error)
    if known is not None:
        if isinstance(known, ServiceUnavailable) and known is not error.original_error:
            log.warning("database unavailable [request %s]: %s", request_id, error.original_error)
        return _with(error, str(known), {**known.extensions, "code": known.code})
    if phase == "parse" or isinstance(error, GraphQLSyntaxError):
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
