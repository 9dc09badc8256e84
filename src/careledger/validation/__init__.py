"""Block and transaction validation: signatures, membership, endorsement policy, MVCC."""
