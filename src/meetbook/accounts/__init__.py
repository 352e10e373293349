"""Accounts and teams: sign-in tokens, the caller's profile, teams and their members."""
