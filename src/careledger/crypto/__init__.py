"""Keys, signatures, hashing, Merkle trees and the canonical byte encoding.

Everything that is signed or hashed in CareLedger goes through :mod:`careledger.crypto.encoding`
first, so two nodes always hash the same bytes for the same value.
"""
