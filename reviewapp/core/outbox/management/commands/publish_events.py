import time

from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.outbox.services import outbox_enabled, outbox_relay_all
from reviewapp.core.supervisor import StopWhenAsked


class Command(BaseCommand):
    help = (
        "Publish the outbox's events to the event bus (REVIEWAPP_EVENT_BUS_URL) as CloudEvents; "
        "with --loop, keep polling until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="poll until SIGTERM or SIGINT")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between polls when idle"
        )
        parser.add_argument("--batch", type=int, default=500, help="events per transaction")

    def handle(self, *args, loop: bool, interval: float, batch: int, **options):
        if not outbox_enabled():
            raise CommandError("Set REVIEWAPP_EVENT_BUS_URL to publish events.")
        stop = StopWhenAsked()
        total = 0
        while True:
            sent = outbox_relay_all(limit=batch)
            total += sent
            if sent:
                self.stdout.write(f"published {sent} events")
            if not loop or stop.asked:
                break
            if not sent:
                time.sleep(interval)
        self.stdout.write(f"published {total} events in all")
