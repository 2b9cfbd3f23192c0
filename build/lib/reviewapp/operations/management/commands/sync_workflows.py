from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from reviewapp.operations.configuration import workflow_sync
from workflows.definitions import DefinitionInvalid, workflow_files_load


class Command(BaseCommand):
    help = "Validate the workflow definition files and publish new versions of changed ones."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            dest="directory",
            type=Path,
            default=None,
            help="Folder of *.yaml definitions (default: REVIEWAPP_WORKFLOWS_DIR)",
        )

    def handle(self, *args, directory: Path | None, **options):
        directory = directory or Path(settings.REVIEWAPP_WORKFLOWS_DIR)
        try:
            files = workflow_files_load(directory)
            with transaction.atomic():
                # All or nothing: one bad file publishes none of them.
                results = [(f, workflow_sync(source=f)) for f in files]
        except DefinitionInvalid as invalid:
            raise CommandError(
                "Invalid workflow definitions:\n  " + "\n  ".join(invalid.problems)
            ) from invalid
        for source, workflow in results:
            number = workflow.current_version.number if workflow.current_version else 0
            self.stdout.write(f"{source.path.name}: {workflow.slug} at version {number}")
