"""A large 837 is read as a stream: memory does not grow with the number of claims, and the
benchmark function reports both timings."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

from careledger.payer.x12.bench import BenchDirectory, generate_837p, run_x12
from careledger.payer.x12.inbound import Inbound837


def _peak_bytes(path: Path, status: Path) -> tuple[int, int]:
    """Peak traced memory while reading ``path`` end to end (999, every claim, 277CA to disk)."""
    with path.open("rb") as stream, status.open("wb") as status_out:
        tracemalloc.start()
        try:
            inbound = Inbound837(stream, directory=BenchDirectory(), status_out=status_out)
            ack = inbound.acknowledge()
            count = sum(1 for parsed in inbound.claims() if parsed.claim is not None)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert ack.accepted
    return peak, count


def test_memory_stays_flat_from_500_to_5000_claims(tmp_path: Path) -> None:
    small, large = tmp_path / "500.x12", tmp_path / "5000.x12"
    small.write_bytes(generate_837p(500))
    large.write_bytes(generate_837p(5000))
    assert large.stat().st_size > 9 * small.stat().st_size
    small_peak, small_count = _peak_bytes(small, tmp_path / "500.277")
    large_peak, large_count = _peak_bytes(large, tmp_path / "5000.277")
    assert (small_count, large_count) == (500, 5000)
    # ten times the claims, well under twice the memory (sets of 100 claims are the unit)
    assert large_peak < 2 * small_peak, (small_peak, large_peak)
    assert large_peak < large.stat().st_size / 2


def test_a_non_seekable_stream_is_spooled_and_read() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    pipe = Pipe(generate_837p(30))
    with Inbound837(pipe, directory=BenchDirectory()) as inbound:  # type: ignore[arg-type]
        assert inbound.acknowledge().accepted
        assert sum(1 for _ in inbound.claims()) == 30


def test_the_benchmark_reports_careledger_against_pyx12(capsys: object) -> None:
    result = run_x12(20)
    assert result["claims"] == 20
    assert result["pyx12_accepted"] is True
    assert result["careledger_s"] > 0
    assert result["pyx12_s"] > 0
    assert result["speedup"] > 0
