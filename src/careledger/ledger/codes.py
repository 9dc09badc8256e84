"""Validation codes: the outcome recorded for every transaction in a block.

"Invalid is a result, failed is an error": validation never raises for a bad transaction, it
records one of these codes and the transaction's writes are not applied.
"""

from __future__ import annotations

import enum


class ValidationCode(enum.IntEnum):
    VALID = 0
    MALFORMED_PAYLOAD = 1
    BAD_CREATOR_SIGNATURE = 2
    CREATOR_NOT_MEMBER = 3
    DUPLICATE_TXID = 4
    UNKNOWN_CONTRACT = 5
    ENDORSEMENT_POLICY_FAILURE = 6
    MVCC_READ_CONFLICT = 7
    PHANTOM_READ_CONFLICT = 8
    RESPONSE_MISMATCH = 9
    NAMESPACE_VIOLATION = 10
    NOT_VALIDATED = 255

    @property
    def valid(self) -> bool:
        return self is ValidationCode.VALID
