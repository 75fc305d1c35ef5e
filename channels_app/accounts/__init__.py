"""People's own settings and sign-in: profile (time zone), API tokens, the role-based backend and
admin site."""
