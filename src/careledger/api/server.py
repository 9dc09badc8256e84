"""Serving the node API with uvicorn inside a running event loop.

:class:`ApiServer` starts uvicorn as a task of the caller's loop (the node process, or a test
that runs several nodes in one process) and stops it on request. Signals are left to the
caller: uvicorn's own handling would re-raise SIGTERM after shutdown and kill the process
before the peer closes its stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Generator
from typing import Any

import uvicorn

from careledger.tls import TlsFiles, server_context


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ApiServer:
    """``tls`` (:class:`careledger.tls.TlsFiles`): serve HTTPS with its certificate; with
    ``require_client_cert`` only clients presenting a certificate chained to ``tls.ca``."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: TlsFiles | None = None,
        require_client_cert: bool = False,
    ) -> None:
        ssl_options: dict[str, Any] = {}
        if tls is not None:
            server_context(tls, require_client_cert=require_client_cert)  # refuse bad files now
            ssl_options = {
                "ssl_certfile": str(tls.cert),
                "ssl_keyfile": str(tls.key),
                "ssl_ca_certs": str(tls.ca) if tls.ca else None,
                "ssl_cert_reqs": ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE,
            }
        self.scheme = "https" if tls is not None else "http"
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            **ssl_options,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen; returns once the socket is bound (raises if it cannot be)."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
                    self._task.result()
                raise OSError(
                    f"cannot serve on {self._server.config.host}:"
                    f"{self._server.config.port} (address in use?)"
                )
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        servers = self._server.servers
        if not servers or not servers[0].sockets:
            raise RuntimeError("the API server is not listening")
        return int(servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self._server.config.host}:{self.port}"

    async def wait(self) -> None:
        """Until the server stops (by :meth:`stop`)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
