"""Writes of the handoff feature: `landing` (visits, choices, contact requests, branding) and
`delivery` (destinations and handing requests off to them)."""
