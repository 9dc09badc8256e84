"""Every route of the FHIR API is documented in docs/fhir.md."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute

from careledger.fhir.api import create_app
from careledger.fhir.service import FhirService

DOC = (Path(__file__).resolve().parents[2] / "docs" / "fhir.md").read_text()
# The docs name path parameters the way the FHIR specification does.
_DOC_NAMES = {"{resource_type}": "{type}", "{resource_id}": "{id}", "{version}": "{vid}"}


def test_every_fhir_route_is_in_docs_fhir(service: FhirService) -> None:
    app = create_app(service).app
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 10
    for route in routes:
        path = route.path
        for name, doc_name in _DOC_NAMES.items():
            path = path.replace(name, doc_name)
        for method in route.methods:
            assert f"`{method} {path}`" in DOC, f"{method} {path} is not documented in docs/fhir.md"
