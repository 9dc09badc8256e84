"""``careledger demo --serve`` ends in a browser: after the story it prints the UI's URL and
serves it until interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_demo_serve_prints_the_url_and_serves_the_ui(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "careledger.cli.main", "demo", "--data", str(tmp_path / "d"),
         "--serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    url, seen = None, []
    deadline = time.monotonic() + 600
    try:
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(r"Web UI: (http://127\.0\.0\.1:\d+/ui/?)", line)
            url = found.group(1) if found else None
        assert url, "".join(seen[-20:])
        assert any("demo complete" in s for s in seen)
        page = httpx.get(url.rstrip("/") + "/login/patient", timeout=30, follow_redirects=True)
        assert page.status_code == 200
        assert "did" in page.text.lower()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == 0
