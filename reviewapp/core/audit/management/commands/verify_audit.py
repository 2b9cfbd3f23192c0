from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit.heads import HeadsFileError, audit_heads_check, audit_heads_read
from reviewapp.core.audit.services import audit_verify


class Command(BaseCommand):
    help = (
        "Recompute every shard of the audit hash chains and name the first broken link, if any; "
        "with --heads FILE (from `manage.py audit_heads`), also check that every head recorded "
        "there is still in its chain."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--heads", type=Path, help="a signed heads file from `manage.py audit_heads`"
        )

    def handle(self, *args, heads: Path | None = None, **options):
        recorded = None
        if heads is not None:
            try:
                recorded = audit_heads_read(heads.read_text())
            except (OSError, HeadsFileError) as error:
                raise CommandError(f"Cannot use {heads}: {error}") from error
        report = audit_verify()
        if report.broken is not None:
            broken = report.broken
            raise CommandError(
                f"Audit chain {broken.chain!r} (shard {broken.shard}) is broken at event "
                f"#{broken.seq}"
                f"{f' (id {broken.event_id})' if broken.event_id else ''}: {broken.problem}."
            )
        if recorded is not None:
            missing = audit_heads_check(recorded)
            if missing:
                listed = "\n".join(f"  {head}" for head in missing)
                raise CommandError(
                    f"Audit trail truncated or rewritten: {len(missing)} recorded head(s) are not "
                    f"in the chains as they were:\n{listed}"
                )
        checked = f"; all {_count(recorded)} recorded heads present" if recorded else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit trail intact: {report.events} events in {report.chains} chains{checked}."
            )
        )


def _count(heads: dict | None) -> int:
    return sum(len(shards) for shards in (heads or {}).values())
