"""Print the role matrix as Markdown, or rewrite it into docs/roles.md."""

from django.core.management.base import BaseCommand, CommandError

from channels_app.core.roles_doc import DOC_PATH, documented_matrix, matrix_markdown, write_doc


class Command(BaseCommand):
    help = (
        "Print who may do what (permissions.ROLE_ACTIONS); --write updates docs/roles.md, --check fails if it is stale."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--write", action="store_true", help="rewrite the table in docs/roles.md")
        group.add_argument("--check", action="store_true", help="exit 1 if docs/roles.md disagrees with the code")

    def handle(self, *args, write=False, check=False, **options):
        if write:
            changed = write_doc(DOC_PATH)
            self.stdout.write(f"{DOC_PATH}: {'updated' if changed else 'already up to date'}.")
        elif check:
            if documented_matrix(DOC_PATH.read_text()) != matrix_markdown():
                raise CommandError(f"{DOC_PATH} disagrees with permissions.ROLE_ACTIONS: run roles_matrix --write.")
            self.stdout.write("docs/roles.md matches the code.")
        else:
            self.stdout.write(matrix_markdown())
