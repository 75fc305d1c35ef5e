"""Writes of the plans feature: plans.py (contents and lifecycle), drafts.py (the wizard's drafts)."""
