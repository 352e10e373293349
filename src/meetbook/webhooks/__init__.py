"""Team webhooks (CONTRACT §1.9): endpoints, signed deliveries through the outbox, the log."""
