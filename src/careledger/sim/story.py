"""What a chapter of ``careledger demo`` is: the context steps share and the shape of a step.

Chapters (``demo_ledger``, ``demo_credentials``, ``demo_fhir``, …) import this module and nothing
of each other; :mod:`careledger.sim.demo` is the one place that lists them in order. A new
chapter is a new module with a :class:`Chapter` and one line in that list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from careledger.node.network import EmbeddedNetwork

ORGS = ["Hospital", "Lab", "Payer"]


@dataclass
class DemoContext:
    """The running consortium and the facts earlier steps left for later ones."""

    net: EmbeddedNetwork
    facts: dict[str, Any] = field(default_factory=dict)


Step = tuple[str, Callable[[DemoContext], Awaitable[str]]]


@dataclass(frozen=True)
class Chapter:
    """A named run of steps; each step returns the line the demo shows for it."""

    name: str
    steps: list[Step]
