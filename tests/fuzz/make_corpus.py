"""Write the seed inputs of ``tests/fuzz/corpus/`` (run once; the files are kept in the repo).

    .venv/bin/python -m tests.fuzz.make_corpus

Seeds are well-formed inputs of each parser, made by CareLedger itself with throwaway keys: the
fuzzers mutate them, so mutations reach past the first length check into the parsers' depths.
Regression inputs (ones that once crashed a parser) are added by hand as ``regression-*`` files.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from careledger.api.auth import sign_request
from careledger.contracts.tokens import Account
from careledger.contracts.values import encode_value
from careledger.credentials import (
    INSURANCE_COVERAGE,
    Cryptosuite,
    PresentationRequest,
    issue_credential,
    issue_sd_jwt_vc,
)
from careledger.credentials.sd_jwt import holder_jwk, present
from careledger.identity.did import Ed25519Signer
from tests.harness import envelope_for, new_consortium, running

CORPUS = Path(__file__).parent / "corpus"
CLAIMS = {
    "memberId": "M-1002003",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
    "coverageStart": "2025-01-01",
    "coverageEnd": "2027-12-31",
}


def _write(parser: str, name: str, data: bytes | str) -> None:
    folder = CORPUS / parser
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)


async def _ledger(directory: Path) -> None:
    config = new_consortium(directory / "consortium")
    creator, endorser = config.member("Org1", "client0"), config.member("Org2", "peer0")
    _, env = envelope_for(creator, "tokens", "mint", ["acct-1", 5], endorsers=[endorser])
    _write("envelope", "endorsed-mint.cbor", env.to_bytes())
    _write("proposal", "mint.cbor", env.proposal)
    _write("response", "empty.cbor", env.response)
    _write(
        "state_value", "account.cbor", encode_value(Account(owner_org="Org1", balance=5), Account)
    )
    headers = sign_request(creator, "GET", "/v1/state?x=1", b"")
    _write("signed_request", "get-state.json", json.dumps(headers, indent=1))
    async with running(config) as net:
        await net.gateway("Org1", "admin").submit("tokens", "mint", ["acct-2", 7])
        peer = net.peers["Org1"]
        for n in range(min(peer.height(), 4)):
            _write("block", f"block-{n}.cbor", peer.blocks.get(n).to_bytes())
        _write(
            "block_file",
            "org1-blocks.log",
            config.data_dir("Org1").joinpath("blocks.log").read_bytes(),
        )


def _credentials() -> None:
    payer, patient = Ed25519Signer(), Ed25519Signer()
    vm = payer.did_key_verification_method
    claims = {**CLAIMS, "payerId": payer.did_key}
    for suite in (Cryptosuite.EDDSA_RDFC_2022, Cryptosuite.EDDSA_JCS_2022):
        vc = issue_credential(INSURANCE_COVERAGE, payer, vm, patient.did_key, claims, suite=suite)
        _write("credential", f"{suite.value}.json", json.dumps(vc, indent=1))
    token = issue_sd_jwt_vc(INSURANCE_COVERAGE, payer, vm, claims, holder_jwk(patient))
    _write("sd_jwt", "issued.txt", token)
    request = PresentationRequest.new(INSURANCE_COVERAGE.vct, ("memberId",), "did:web:x.example")
    shown = present(token, request.claims, patient, request.audience, request.nonce, time.time)
    _write("sd_jwt", "presented-kb.txt", shown)


def _fhir() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:mrn", "value": "123"}],
        "name": [{"family": "Doe", "given": ["Jo"]}],
        "birthDate": "1980-02-03",
    }
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-03-04T05:06:07Z",
        "valueQuantity": {"value": 13.2, "unit": "g/dL"},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
                "resource": {k: v for k, v in patient.items() if k != "id"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": observation
                | {"subject": {"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"}},
                "request": {"method": "POST", "url": "Observation"},
            },
            {"request": {"method": "GET", "url": "Patient?identifier=urn:mrn|123"}},
        ],
    }
    _write("fhir_resource", "patient.json", json.dumps(patient, indent=1))
    _write("fhir_resource", "observation.json", json.dumps(observation, indent=1))
    _write("fhir_bundle", "transaction.json", json.dumps(bundle, indent=1))
    _write("fhir_bundle", "batch.json", json.dumps(bundle | {"type": "batch"}, indent=1))


def _configs(directory: Path) -> None:
    new_consortium(directory / "c")
    _write("consortium_toml", "three-orgs.toml", (directory / "c" / "consortium.toml").read_text())
    _write(
        "node_toml",
        "jetstream.toml",
        """org = "Org1"
consortium = "../consortium"
data_dir = "../data/Org1"
member = "peer0"
did_web_host = "org1.example"

[http]
host = "127.0.0.1"
port = 7051
max_body_bytes = 2097152

[state]
backend = "sqlite"

[ordering]
backend = "jetstream"
servers = ["nats://127.0.0.1:4222"]
replica = true

[peers]
Org2 = "http://127.0.0.1:7052"

[fhir]
enabled = true
allow_unsigned = false
""",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_ledger(Path(tmp)))
        _configs(Path(tmp))
    _credentials()
    _fhir()


if __name__ == "__main__":
    main()
