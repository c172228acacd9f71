"""The dashboard: one HTML page and its scripts and style, served at ``/`` by the API's app.

The page talks to the API like any client (``/api/v1``, with the key the user typed, kept in
the browser's session storage). Every response here carries a Content-Security-Policy that
allows only this server's own scripts and styles: no inline script or style, no other origin.
"""

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
STATIC = resources.files(__package__) / "static"
# The files served, read once: the names are fixed, so no request path reaches the file system.
FILES = {
    f.name: (f.read_bytes(), MEDIA[f.name[f.name.rindex(".") :]] + "; charset=utf-8")
    for f in STATIC.iterdir()
    if f.is_file() and f.name[f.name.rfind(".") :] in MEDIA
}


def _file(name: str) -> Response:
    body, media = FILES[name]
    return Response(body, media_type=media, headers=HEADERS)


@router.get("/")
def index() -> Response:
    return _file("index.html")


@router.get("/ui/{name}")
def static(name: str) -> Response:
    if name not in FILES or name == "index.html":
        return Response(b"not found\n", status_code=404, media_type="text/plain", headers=HEADERS)
    return _file(name)
