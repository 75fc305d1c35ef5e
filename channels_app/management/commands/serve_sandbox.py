"""Serve the platform fakes the tests use on loopback, for the demo: `make run` starts it.

X, YouTube, Discourse and Messenger listen on 127.0.0.1 from DUSK_SANDBOX_PORT (8100) in that
order; the page listing what each received, with a switch to make a platform answer 401 (a
revoked token), is on the port after them (8104). The demo's channels point at them and name
DUSK_CHANNEL_DEMO_* tokens, which make run sets to what the sandbox accepts.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from channels_app.tests.support.sandbox import DEMO_TOKEN_ENV, KINDS, Sandbox, SandboxPage


class Command(BaseCommand):
    help = "Serve the platform fakes (X, YouTube, Discourse, Messenger) on 127.0.0.1 for the demo."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=None, help="First port (default DUSK_SANDBOX_PORT, 8100); the page is +4."
        )
        parser.add_argument(
            "--refuse",
            default="",
            help="Comma-separated platforms that answer 401 from the start (x,youtube,discourse,messenger).",
        )

    def handle(self, *args, port=None, refuse="", **options):
        first = settings.DUSK_SANDBOX_PORT if port is None else port
        refused = [kind for kind in refuse.split(",") if kind]
        unknown = sorted(set(refused) - set(KINDS))
        if unknown:
            raise CommandError(f"Unknown platform(s) {', '.join(unknown)}: choose among {', '.join(KINDS)}.")
        sandbox = Sandbox(token_env=DEMO_TOKEN_ENV, url_env={}, first_port=first)
        try:
            sandbox.start()
            page = SandboxPage(sandbox, first + len(KINDS) if first else 0).start()
        except OSError as exc:
            sandbox.stop()
            raise CommandError(f"Cannot listen on 127.0.0.1:{first}-{first + len(KINDS)}: {exc}") from exc
        for kind in refused:
            sandbox.refuse(kind)
        for kind in KINDS:
            state = " (answers 401)" if kind in refused else ""
            self.stdout.write(f"{kind:<10} {sandbox.fakes[kind].base_url}{state}")
        self.stdout.write(f"Sandbox page (what each platform received): {page.url}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            page.stop()
            sandbox.stop()
