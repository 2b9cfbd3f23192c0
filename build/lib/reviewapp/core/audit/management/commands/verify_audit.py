from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.audit.services import audit_verify


class Command(BaseCommand):
    help = "Recompute every shard of the audit hash chains and name the first broken link, if any."

    def handle(self, *args, **options):
        report = audit_verify()
        if report.broken is not None:
            broken = report.broken
            raise CommandError(
                f"Audit chain {broken.chain!r} (shard {broken.shard}) is broken at event "
                f"#{broken.seq}"
                f"{f' (id {broken.event_id})' if broken.event_id else ''}: {broken.problem}."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit trail intact: {report.events} events in {report.chains} chains."
            )
        )
