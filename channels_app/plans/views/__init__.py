"""Plan pages: wizard.py (drafting), detail.py (the plan), review.py (submit, approve, send back)."""
