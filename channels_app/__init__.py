"""Dusk's one Django app. Feature packages, bottom to top: core, models, audit, accounts, directory,
workforce, plans, platforms, cutover; web, api and admin on top. docs/architecture.md is the map."""
