"""Moving the people: destinations for affected agents (one rule for board, CSV and API),
confirmation, agent emails, the staffing check."""
