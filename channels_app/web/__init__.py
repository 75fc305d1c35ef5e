"""The portal's front door: root URLconf, the webhook URLconf, dashboard, health, CSP."""
