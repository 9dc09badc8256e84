"""The view registry: each role's pages are one module that registers itself here.

A :class:`View` names its role, its navigation entries and a ``routes(router, context)``
function that adds its pages to the UI's router. :func:`careledger.web.app.create_ui_app` adds
every registered view; a view whose backend is not there yet would register its routes but no
navigation entry (``listed=False``), its data source raising ``NotImplementedError`` until the
backend lands. Adding a role's pages is adding a module that
calls :func:`register` — nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter

from careledger.web.sessions import Role

if TYPE_CHECKING:
    from careledger.web.context import UiContext


@dataclass(frozen=True)
class NavEntry:
    label: str
    path: str


@dataclass(frozen=True)
class View:
    role: Role
    title: str
    home: str
    routes: Callable[[APIRouter, UiContext], None]
    nav: tuple[NavEntry, ...] = field(default_factory=tuple)
    listed: bool = True
    """Shown in navigation and on the start page; False while the backend is missing."""


_VIEWS: dict[Role, View] = {}


def register(view: View) -> View:
    _VIEWS[view.role] = view
    return view


def views() -> list[View]:
    """Every registered view; importing the built-in view modules registers them."""
    import careledger.web.desks.payer
    import careledger.web.explorer
    import careledger.web.patient
    import careledger.web.provider
    import careledger.web.sponsor  # noqa: F401

    return list(_VIEWS.values())


def view_for(role: Role | None) -> View | None:
    return _VIEWS.get(role) if role is not None else None
