"""Errors as RFC 9457 ``application/problem+json``, each with a stable ``type``.

The ``type`` is a relative URI, ``/problems/<slug>``; the slugs are listed in docs/api/index.md
and never change meaning.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from vegafs.api.responses import AsciiJSONResponse
from vegafs.db import DatabaseUnavailable

MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    field: str = Field(description="Where: `operation`, `params.selection.roots[0]`, `limit`.")
    message: str


class ProblemDetails(BaseModel):
    """The body of every error response (the OpenAPI schema ``Problem``)."""

    model_config = ConfigDict(title="Problem", extra="allow")

    type: str = Field(description="`/problems/<slug>`: stable, never changes meaning.")
    title: str
    status: int
    detail: str = Field(description="What went wrong, for a human.")
    instance: str | None = Field(default=None, description="The request's path.")
    errors: list[FieldError] | None = Field(
        default=None, description="`validation` only: every invalid field."
    )
    path: str | None = Field(default=None, description="`path-not-allowed` only: the path.")
    parent_id: int | None = Field(
        default=None, description="`shard-of-job` only: the sharded job the shard is part of."
    )


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry: this description, a problem+json body."""
    return {"description": description, "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}


UNAUTHORIZED = problem("`unauthorized`: no API key, or not a valid one (once any key exists).")
FORBIDDEN = problem("`forbidden`: the key lacks the scope, or the job is another key's.")
INVALID = problem("`validation`: a parameter or the body is invalid.")
DB_DOWN = problem("`database-unavailable`: the database cannot be reached; retry shortly.")
# The errors every authenticated route may answer (routers declare them for all their routes).
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    503: DB_DOWN,
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int,
    slug: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return AsciiJSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "params", "selection", "roots", 0)`` -> ``params.selection.roots[0]``."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not out:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_problem(errors: list[dict[str, Any]], prefix: tuple[Any, ...] = ()) -> Problem:
    items = [
        {"field": field_name((*prefix, *e.get("loc", ()))), "message": e.get("msg", "invalid")}
        for e in errors
    ]
    first = items[0] if items else {"field": "body", "message": "invalid"}
    return Problem(422, "validation", f"invalid {first['field']}: {first['message']}", errors=items)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.slug,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [dict(e) for e in exc.errors()]
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        body_error = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)
        if body_error and media != "application/json" and not media.endswith("+json"):
            # A form or a text body: FastAPI does not parse it, and its error would say only
            # that the body is not an object.
            got = f"Content-Type {media}" if media else "no Content-Type"
            hint = f"the body must be JSON, sent with Content-Type: application/json (got {got})"
            return problem_response(
                422,
                "validation",
                hint,
                instance=request.url.path,
                errors=[{"field": "body", "message": hint}],
            )
        p = validation_problem(errors)
        return problem_response(422, p.slug, p.detail, instance=request.url.path, **p.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(
            exc.status_code,
            slug,
            str(exc.detail),
            instance=request.url.path,
            headers=headers,
        )

    @app.exception_handler(DatabaseUnavailable)
    async def _db_down(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return problem_response(
            503,
            "database-unavailable",
            "the database cannot be reached; retry shortly",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            500, "internal", "internal server error (logged)", instance=request.url.path
        )

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus the ``Problem`` schema that the error responses refer to."""
        if app.openapi_schema is None:
            schema = default_openapi()
            body = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
            found = schema.setdefault("components", {}).setdefault("schemas", {})
            found.update(body.pop("$defs", {}))
            found["Problem"] = body
        return app.openapi_schema  # type: ignore[return-value]  # set by default_openapi()

    app.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. (The router's 405 names only the first
    matching route's, so ``GET /jobs`` beside ``POST /jobs`` gave ``Allow: POST``.) Each method
    is matched from the top as a fresh request would be ("fastapi" holds routing state)."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**request.scope, "method": method, "fastapi": {}}
        if any(r.matches(probe)[0] == Match.FULL for r in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)
