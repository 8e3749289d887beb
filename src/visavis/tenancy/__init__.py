"""Tenancy: API keys, client tokens, quotas, flags, costs and secrets at rest."""
