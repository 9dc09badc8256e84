"""Ordering: sequencing transactions into signed, hash-chained blocks (solo; jetstream)."""
