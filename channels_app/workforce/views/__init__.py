"""Pages of the workforce transition: HR's reassignment board and staffing check (`board`), and
each affected agent's personal page (`agent_page`)."""
