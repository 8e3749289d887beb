"""Data access, one module per aggregate; every tenant-owned query is scoped by tenant."""
