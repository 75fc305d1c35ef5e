"""Writes of the workforce feature: moves.py (the one move rule, confirmation, agent emails,
staffing inputs), csv.py (export and all-or-nothing import), bulk.py (the API's list of moves)."""
