"""Public JSON-LD context routes: the health vocabulary that credentials name, for any verifier.

Open to anyone (a vocabulary, no PHI), served with the bytes of the shipped file so that the
content-addressed URL's digest holds, a strong ETag and a year of immutable caching. See
:mod:`careledger.credentials.health_context`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header, Path, Response

from careledger.api.models import ErrorOut
from careledger.credentials.health_context import (
    CACHE_CONTROL,
    MEDIA_TYPE,
    VERSIONED_PATH,
    content_addressed_path,
    etag,
    health_context_bytes,
)
from careledger.errors import NotFound


def _context_response(if_none_match: str | None) -> Response:
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag()}
    if if_none_match is not None and etag() in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(health_context_bytes(), media_type=MEDIA_TYPE, headers=headers)


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {MEDIA_TYPE: {}}},
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
}


def add_context_routes(app: FastAPI) -> None:
    """Serve the health context at ``/contexts/health/v1`` and its content-addressed path."""

    @app.get(VERSIONED_PATH, tags=["credentials"], response_class=Response, responses=_RESPONSES)
    async def health_context(
        if_none_match: str | None = Header(default=None),
    ) -> Response:
        """CareLedger's health JSON-LD context (version 1); open to anyone."""
        return _context_response(if_none_match)

    @app.get(
        "/contexts/{file}",
        tags=["credentials"],
        response_class=Response,
        responses={**_RESPONSES, 404: {"model": ErrorOut}},
    )
    async def context_by_digest(
        file: Annotated[str, Path(max_length=100)],
        if_none_match: str | None = Header(default=None),
    ) -> Response:
        """The health context under ``sha256-<hex>.jsonld``, its digest: an immutable URL; open
        to anyone. Any other name is 404."""
        if "/contexts/" + file != content_addressed_path():
            raise NotFound(f"no context named {file!r} here (see {VERSIONED_PATH})")
        return _context_response(if_none_match)
