"""A database cursor for the hottest statements: on PostgreSQL it binds parameters server side, so
a statement is prepared once per connection (settings: DATABASE_PREPARED_STATEMENTS) instead of
parsed and planned for every request. Django's own cursors bind client side and are never
prepared; planning a statement with a few joins costs PostgreSQL's CPU a millisecond or more each
time. Django's wrapper still logs the statement (query counts, debug) and maps its errors."""

from django.db import connection


def prepared_cursor():
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
