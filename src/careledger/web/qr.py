"""QR codes as inline SVG (segno), for presentations a verifier scans from the screen."""

from __future__ import annotations

import io

import segno


def svg_of(text: str, title: str) -> str:
    """``text`` as an SVG QR code (error correction L, the densest that still scans from a
    screen: presentations are long). segno escapes the title."""
    code = segno.make(text, error="l", micro=False)
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        scale=3,
        border=4,
        title=title,
        xmldecl=False,
        svgns=True,
        svgclass="qr",
        lineclass=None,
    )
    return out.getvalue().decode()
