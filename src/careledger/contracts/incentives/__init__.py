"""The ``incentives`` contract: campaigns of account-bound care points (token id = campaign).

``contract`` holds the contract and its invoke functions, ``views`` its queries, ``terms`` the
program types, caps, state values and what members and auditors sign. The names callers need
are re-exported here, so ``careledger.contracts.incentives`` reads as one module.
"""

from careledger.contracts.incentives.contract import NAMESPACE, Incentives
from careledger.contracts.incentives.terms import (
    AWARD_DOMAIN,
    PSEUDONYM_DOMAIN,
    REDEEM_DOMAIN,
    award_payload,
    pseudonym_of,
    redeem_payload,
)
from careledger.contracts.incentives.views import SMALL_CELL

__all__ = [
    "AWARD_DOMAIN",
    "NAMESPACE",
    "PSEUDONYM_DOMAIN",
    "REDEEM_DOMAIN",
    "SMALL_CELL",
    "Incentives",
    "award_payload",
    "pseudonym_of",
    "redeem_payload",
]
