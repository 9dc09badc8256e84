"""Shared helpers for the X12 tests: the sample files and a pyx12 assertion."""

from __future__ import annotations

from pathlib import Path

from careledger.payer.x12.pyx12_check import pyx12_validate

VECTORS = Path(__file__).parent / "vectors"
GOLDEN = Path(__file__).parent / "golden"


def vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def assert_pyx12_accepts(data: bytes) -> None:
    verdict = pyx12_validate(data)
    assert verdict.accepted, (
        "pyx12 rejected:\n" + "\n".join(verdict.errors) + "\n" + (data.decode().replace("~", "~\n"))
    )


def segments(data: bytes) -> list[list[str]]:
    """Split an interchange written with the default separators (* : ~)."""
    return [seg.split("*") for seg in data.decode().split("~") if seg.strip()]
