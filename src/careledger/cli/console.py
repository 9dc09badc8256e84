"""The one Rich console the ``careledger`` command prints through.

Rich reads ``[...]`` in a string as markup and ``:name:`` as an emoji code, so generated or
user-supplied text printed as a markup string is rewritten — ``did:key:z6Mk…`` became
``did🔑z6Mk…`` in ``careledger demo``. Here emoji codes are off for the whole console, and
:func:`say` takes styled labels and plain text separately, so plain text (DIDs, messages, paths,
anything a user or the story produced) is never parsed as markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

console = Console(highlight=False, soft_wrap=True, emoji=False)

Part = str | tuple[str, str]
"""Plain text, or ``(text, style)`` — the text is never parsed either way."""


def text(*parts: Part) -> Text:
    return Text.assemble(*parts)


def say(*parts: Part) -> None:
    """Print ``parts`` on one line: ``say(("error:", "bold red"), " ", message)``."""
    console.print(text(*parts))
