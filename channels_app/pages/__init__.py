"""The browser portal's views (server-rendered, htmx partials of the same templates)."""
