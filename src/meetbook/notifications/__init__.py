"""Notifications: what each event says and the providers that deliver it."""
