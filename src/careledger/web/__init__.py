"""The web UI every node serves at ``/ui``: explorer, patient and provider views (payer and
sponsor registered, waiting for their backends), server-rendered with Jinja2 and htmx.

* :func:`mount_ui` — the one call a node makes:
  ``mount_ui(fastapi_app, careledger.daemon.ui.node_ui_context(node))``.
* :func:`serve_demo` — keep a demo consortium's UI open (``careledger demo --serve``).
* :mod:`careledger.web.registry` — how a role's pages plug in.

See docs/ui.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from careledger.web.app import create_ui_app, mount_ui
from careledger.web.context import UiContext

if TYPE_CHECKING:
    from careledger.web.demo import DemoUi

__all__ = ["UiContext", "create_ui_app", "mount_ui", "serve_demo"]


async def serve_demo(*args: Any, **kwargs: Any) -> DemoUi:
    """See :func:`careledger.web.demo.serve_demo`."""
    from careledger.web.demo import serve_demo as serve

    return await serve(*args, **kwargs)
