"""``manage.py audit_heads``: the head of every audit chain shard, signed, for keeping elsewhere."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from reviewapp.core.audit.heads import audit_heads_signed


class Command(BaseCommand):
    help = (
        "Print (or write to --output) the last event of every audit chain shard, signed with "
        "REVIEWAPP_AUDIT_HEADS_KEY. Keep the file outside the database; "
        "`verify_audit --heads FILE` later shows whether any of those events were removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, help="write the signed heads to this file")

    def handle(self, *args, output: Path | None = None, **options):
        text = json.dumps(audit_heads_signed(), indent=2, sort_keys=True) + "\n"
        if output is None:
            self.stdout.write(text, ending="")
            return
        output.write_text(text)
        self.stderr.write(f"Audit heads written to {output}.")
