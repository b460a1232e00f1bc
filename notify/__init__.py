"""Notifications: one event type (`notice.Notice`) for alerts, cases and pipeline failures; the
channels (`config`), the outbox (`outbox`) and delivery with retries (`delivery`)."""
