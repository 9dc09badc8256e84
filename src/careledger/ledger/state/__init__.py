"""World state: versioned key/value per contract namespace (SQLite, in-memory; PostgreSQL)."""
