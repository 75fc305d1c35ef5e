"""Platform views: webhooks.py (signed, machine to machine), messages.py (a channel's message log)."""
