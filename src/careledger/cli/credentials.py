"""``careledger bench credentials``: issue and verify throughput per credential format.

Parses options and delegates to :func:`careledger.credentials.bench.run`; registered under the
``bench`` group by :mod:`careledger.cli.main`.
"""

from __future__ import annotations

import json

import click

LABELS = {
    "jcs_issue_per_s": "eddsa-jcs-2022 issue/s",
    "jcs_verify_per_s": "eddsa-jcs-2022 verify/s",
    "rdfc_issue_per_s": "eddsa-rdfc-2022 issue/s",
    "rdfc_verify_per_s": "eddsa-rdfc-2022 verify/s",
    "sd_jwt_issue_per_s": "SD-JWT VC issue/s",
    "sd_jwt_present_per_s": "SD-JWT present/s",
    "sd_jwt_presentation_verify_per_s": "SD-JWT presentation verify/s",
}


@click.command("credentials")
@click.option(
    "--seconds",
    type=click.FloatRange(0.01, 600.0),
    default=2.0,
    show_default=True,
    help="Measuring time per figure.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_credentials(seconds: float, as_json: bool) -> None:
    """Single-core issue/s and verify/s per format (Data Integrity JCS and RDFC, SD-JWT VC)."""
    from careledger.credentials.bench import run

    figures = run(seconds)
    if as_json:
        click.echo(json.dumps({k: round(v, 1) for k, v in figures.items()}, indent=2))
        return
    click.echo(f"careledger bench credentials ({seconds:g} s per figure, one core)")
    for key, value in figures.items():
        click.echo(f"  {LABELS.get(key, key):<32} {value:>10,.0f}")
