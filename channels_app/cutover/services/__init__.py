"""Writes of the cutover: engine.py (claim, lease, steps), rollback.py, reminders.py, watchdog.py."""
