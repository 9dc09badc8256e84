"""The outermost ASGI layer every CareLedger HTTP API shares: body limit and error guard.

The node API answers errors as JSON, the FHIR API as OperationOutcome; both wrap their FastAPI
application in one :class:`RequestGuard` with their own error response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger.errors import InvalidInput, PayloadTooLarge

log = logging.getLogger(__name__)


class RequestGuard:
    """Wraps an ASGI application (``.app``): request bodies over ``max_body_bytes`` are refused
    before the application sees them, and anything that escapes it becomes the API's own error
    response (``error_response``)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        error_response: Callable[[BaseException], ASGIApp],
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            if scope["method"] in ("POST", "PUT", "PATCH"):
                receive = await self._buffered(scope, receive)
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # nothing sensible can be sent any more; the connection is closed
                log.error("error after the response started", exc_info=exc)
                return
            await self.error_response(exc)(scope, receive, send)

    async def _buffered(self, scope: Scope, receive: Receive) -> Receive:
        """Read the whole body (at most the limit) so the application never sees more."""
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                raise PayloadTooLarge(f"request body over {self.max_body_bytes} bytes")
        return replaying(await read_body(receive, self.max_body_bytes), receive)


async def read_body(receive: Receive, max_body_bytes: int) -> bytes:
    """The whole request body; PayloadTooLarge as soon as it passes ``max_body_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidInput("the client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body_bytes:
            raise PayloadTooLarge(f"request body over {max_body_bytes} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the application ``body`` once, then defers to the real one."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
