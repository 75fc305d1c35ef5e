"""Writes of the platform edge: inbound.py (store deliveries), outbox.py (send replies), polling.py."""
