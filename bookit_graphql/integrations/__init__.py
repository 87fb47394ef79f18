"""Integrations: signed webhooks and email notifications, fed by the booking event log."""
