"""Notifications of finished runs: webhooks (JSON, Slack-compatible) and email (SMTP)."""
