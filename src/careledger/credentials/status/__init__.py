"""Credential status: whether an issued credential is revoked or suspended.

``bitstring`` is W3C Bitstring Status List v1.0 (Data Integrity credentials and, for credentials
already issued, ``status.bitstring_status_list`` in SD-JWT VCs); ``token_list`` is the IETF Token
Status List (``status.status_list`` in SD-JWT VCs, a ``statuslist+jwt`` token). Both are published
through the ``status_lists`` contract.
"""
