"""The REST API (FastAPI): routes, auth, SSE, problem+json errors, metrics."""

from vegafs.api.app import create_app

__all__ = ["create_app"]
