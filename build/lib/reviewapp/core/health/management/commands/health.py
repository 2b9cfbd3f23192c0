"""``manage.py health``: the readiness checks for scripts; exit status 0 when ready, 1 when not."""

import json

from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.health.readiness import readiness


class Command(BaseCommand):
    help = "Check the database, the broker and the heartbeats of a worker and of beat."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the checks as JSON")

    def handle(self, *args, json_output: bool = False, **options):
        checks = readiness()
        if options.get("json"):
            self.stdout.write(
                json.dumps({c.name: {"ok": c.ok, "detail": c.detail} for c in checks}, indent=2)
            )
        else:
            for check in checks:
                mark = self.style.SUCCESS("ok  ") if check.ok else self.style.ERROR("FAIL")
                self.stdout.write(f"{mark} {check.name:<9} {check.detail}")
        if not all(check.ok for check in checks):
            raise CommandError("not ready", returncode=1)
