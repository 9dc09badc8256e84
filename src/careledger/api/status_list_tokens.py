"""Public status list token route: ``GET /status-lists/{org}/{name}``.

Serves, from this node's committed state, the IETF Token Status List token that ``org``
published through the ``status_lists`` contract (see
:mod:`careledger.credentials.status.token_list`). Open to anyone, as the draft expects: a status
list is a signed bit array with no PHI, and verifiers outside the consortium must read it. The
token is served as published; verifiers check its signature. ``Cache-Control: no-cache`` with an
ETag: a list changes whenever a credential is revoked, so clients revalidate.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import FastAPI, Header, Path, Response

from careledger.api.models import ErrorOut
from careledger.api.service import NodeService
from careledger.credentials.status.token_list import MEDIA_TYPE
from careledger.errors import NotFound

_ORG = r"^[A-Za-z][A-Za-z0-9_-]{0,31}$"
_NAME = r"^[A-Za-z0-9._-]{1,64}$"


def add_status_list_token_routes(app: FastAPI, service: NodeService) -> None:
    """Serve published status list tokens at ``/status-lists/{org}/{name}``."""

    @app.get(
        "/status-lists/{org}/{name}",
        tags=["credentials"],
        response_class=Response,
        responses={
            200: {"content": {MEDIA_TYPE: {}}},
            304: {"description": "Not modified (If-None-Match matched the ETag)"},
            404: {"model": ErrorOut},
        },
    )
    async def status_list_token(
        org: Annotated[str, Path(pattern=_ORG)],
        name: Annotated[str, Path(pattern=_NAME)],
        if_none_match: str | None = Header(default=None),
    ) -> Response:
        """The status list token ``org`` published as ``name``; open to anyone."""
        peer = service.peer
        token = peer.query("status_lists", "token", [org, name], peer.identity.cert)
        if not isinstance(token, bytes):
            raise NotFound(f"{org} has published no status list {name!r}")
        etag = f'"{hashlib.sha256(token).hexdigest()}"'
        headers = {"Cache-Control": "no-cache", "ETag": etag}
        if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
            return Response(status_code=304, headers=headers)
        return Response(token, media_type=MEDIA_TYPE, headers=headers)
