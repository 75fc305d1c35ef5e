"""Store the landing page's visit journal files no process holds (handoff/services/journal.py)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from channels_app.handoff.services.journal import drain_directory


class Command(BaseCommand):
    help = (
        "Store the visit journal files no web process holds (DUSK_VISIT_JOURNAL_DIR): those of processes "
        "that were killed, or of a machine being taken down. Web processes do this by themselves about every "
        "second; files a live process is writing are left to it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--directory", default="", help="the journal's directory (default: DUSK_VISIT_JOURNAL_DIR)")

    def handle(self, *args, directory="", **options):
        if connection.vendor != "postgresql":
            raise CommandError("The visit journal is used on PostgreSQL only: on this database there is none.")
        path = Path(directory or settings.DUSK_VISIT_JOURNAL_DIR)
        if directory and not path.is_dir():
            raise CommandError(f"{path} is not a directory.")
        stored = drain_directory(path)
        self.stdout.write(f"{stored} visits stored from {path}.")
