"""The hub's one error tree and its translation into JSON answers.

Every failure leaves the hub as ``{"reason", "message", "field"}`` with a matching
HTTP status. Errors of the store and of validation are translated here, at the edge.
An error nobody expected is logged with its trace and answered with a bare 500: no
exception text, SQL or stack ever reaches a client.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from edgeplane.api.kinds import UnknownKind
from edgeplane.api.selectors import SelectorError
from edgeplane.api.validation import InvalidObject
from edgeplane.api.wire import Status
from edgeplane.store.errors import AlreadyExists, Conflict, Gone, NotFound, StoreError


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.field = status, reason, message, field

    def body(self) -> Status:
        return Status(reason=self.reason, message=self.message, field=self.field)

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, "BadRequest", message, field)


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "Unauthorized",
        "a valid bearer token is required: send 'Authorization: Bearer <token>' "
        "(the hub's admin token is in <data-dir>/admin.token)",
    )


def translate(error: Exception) -> ApiError:
    """The API error for any exception the hub knows how to explain."""
    match error:
        case ApiError():
            return error
        case NotFound():
            return ApiError(404, "NotFound", str(error), "metadata.name")
        case AlreadyExists():
            return ApiError(
                409,
                "AlreadyExists",
                f"{error}: use PUT or 'edgeplane apply' to change it",
                "metadata.name",
            )
        case Conflict():
            return ApiError(409, "Conflict", str(error), "metadata.resourceVersion")
        case Gone():
            return ApiError(410, "Gone", str(error), "resourceVersion")
        case InvalidObject():
            return ApiError(422, "Invalid", str(error), error.field)
        case UnknownKind():
            return ApiError(404, "NotFound", str(error), "kind")
        case SelectorError():
            return ApiError(400, "BadRequest", f"labelSelector: {error}", "labelSelector")
        case StoreError():
            return ApiError(503, "ServiceUnavailable", f"the store failed: {error}")
    return internal_error()


def internal_error() -> ApiError:
    return ApiError(
        500,
        "InternalError",
        "the hub failed unexpectedly (the details are in its log): try again, and report "
        "it if it stays",
    )


def install_handlers(app: FastAPI) -> None:
    async def known(_: Request, exc: Exception) -> JSONResponse:
        return translate(exc).response()

    async def http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        reasons = {404: "NotFound", 405: "MethodNotAllowed"}
        reason = reasons.get(exc.status_code, "BadRequest")
        return ApiError(exc.status_code, reason, str(exc.detail)).response()

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}"
        return ApiError(422, "Invalid", message, where or None).response()

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, and uvicorn logs the trace.
        return internal_error().response()

    app.add_exception_handler(Exception, unexpected)
    for error_type in (ApiError, StoreError, InvalidObject, UnknownKind, SelectorError):
        app.add_exception_handler(error_type, known)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(RequestValidationError, invalid_request)
