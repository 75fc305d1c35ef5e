"""Django-light helpers every feature shares: roles, text rules, time zones, mail, charts, paging,
the on-commit task queue. No model and no feature is imported here."""
