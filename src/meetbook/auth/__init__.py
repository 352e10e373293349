"""Accounts' credentials: password hashes, bearer tokens, the current-user dependency."""
