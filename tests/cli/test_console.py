"""The CLI prints generated and user text as it is: no emoji codes, no markup parsing."""

from __future__ import annotations

from careledger.cli.console import console, say


def test_did_key_and_brackets_print_verbatim() -> None:
    did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    with console.capture() as captured:
        say(("✔ A patient registers", "bold cyan"), ": ", f"patient {did} [bold]not markup[/]")
        say("smile :smile: and :key: stay codes")
    out = captured.get()
    assert did in out
    assert "🔑" not in out
    assert "😄" not in out
    assert "[bold]not markup[/]" in out
    assert ":smile: and :key:" in out


def test_the_demo_step_printer_uses_it() -> None:
    from careledger.cli import main

    assert main.console is console
    assert console._emoji is False  # what Rich consults before replacing :codes:
