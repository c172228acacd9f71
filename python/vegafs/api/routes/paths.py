"""``POST /paths/check``: whether a path would pass a submission's check, before submitting (the
dashboard's form checks each path field with it). The answer is the one a submission gives: the
same confinement (ops/confine.py) against the same roots (the service's, narrowed by the key's),
so it says nothing more about paths outside the roots than a submission does."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field

from vegafs.api.auth import Principal, SubmitPrincipal
from vegafs.api.problems import AUTH_RESPONSES, INVALID, Problem, problem
from vegafs.api.routes.jobs import allowed_roots
from vegafs.ops.confine import (
    OUTSIDE,
    PATH_MAX,
    PathNotAllowed,
    PathPermissionDenied,
    confine,
    confine_new,
)

router = APIRouter(tags=["paths"], responses={**AUTH_RESPONSES, 422: INVALID})


class PathCheck(BaseModel):
    path: str = Field(max_length=PATH_MAX + 1, description="The path, as a job's params name it.")
    new: bool = Field(
        default=False,
        description="A directory a writing operation may create (copy's or move's destination): "
        "its nearest existing directory is checked instead.",
    )


class PathChecked(BaseModel):
    path: str = Field(description="The path as asked.")
    real_path: str = Field(description="Where it leads: the path a job would be given.")


def path_problem(e: PathNotAllowed, who: Principal, roots: list[Path]) -> Problem:
    """The 422 of a path that fails confinement, worded as ``POST /jobs`` words it (tests hold
    the two answers equal)."""
    if isinstance(e, PathPermissionDenied):
        return Problem(422, "permission-denied", str(e), path=e.path)
    detail = str(e)
    if who.root is not None and e.reason == OUTSIDE:
        detail = f"{e.path}: is outside the API key's root {roots[0]}"
    return Problem(422, "path-not-allowed", detail, path=e.path)


@router.post(
    "/paths/check",
    response_model=PathChecked,
    summary="Check a path against the caller's roots, as a submission would",
    responses={
        400: problem("`http-error`: the body could not be read (it is not UTF-8)."),
        413: problem("`payload-too-large`: the body is over VEGAFS_MAX_BODY_BYTES."),
        422: problem(
            "`path-not-allowed`: the path is not absolute, does not exist, or lies outside the "
            "allowed roots (or the key's root); `permission-denied`: a path inside the roots "
            "that the service may not look at. The same answers as `POST /jobs`."
        ),
    },
)
def check_path(
    request: Request, body: Annotated[PathCheck, Body()], who: Principal = SubmitPrincipal
) -> PathChecked:
    roots = allowed_roots(request.app.state.services.settings, who)
    try:
        real = (confine_new if body.new else confine)(body.path, roots)
    except PathNotAllowed as e:
        raise path_problem(e, who, roots) from None
    return PathChecked(path=body.path, real_path=str(real))
