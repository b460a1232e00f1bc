"""Notifications: the outbox of messages to people, and their delivery (e-mail, webhook)."""
