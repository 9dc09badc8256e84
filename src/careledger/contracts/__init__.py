"""Contract runtime (base classes, stub, registry) and the system and sample contracts."""
