"""One command for the embedded quick start: migrate, load the demo, run a worker and the site."""

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, load the demo, start a Celery worker with beat, and serve the site."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--items", type=int, default=300)

    def handle(self, *args, addr: str, items: int, **options):
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready.")
        # The worker starts first so it consumes the demo items as they are submitted.
        worker = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            [sys.executable, "-m", "celery", "-A", "reviewapp", "worker", "--beat",
             "--loglevel=WARNING", "--concurrency=2",
             f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}"],
            env=os.environ.copy(),
        )
        try:
            call_command("load_demo", items=items)
            self.stdout.write(self.style.SUCCESS(
                f"\nreviewapp is running: open http://{addr}/ and sign in with a user above.\n"
                f"API schema: http://{addr}/api/schema/ . Stop with Ctrl+C.\n"
            ))
            call_command("runserver", addr, use_reloader=False)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
