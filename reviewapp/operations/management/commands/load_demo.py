from pathlib import Path

from django.core.management.base import BaseCommand

from reviewapp.operations.demo import (
    DEMO_PEOPLE,
    demo_install,
    demo_items_submit,
    demo_passwords_kept,
    demo_sla_install,
)
from reviewapp.operations.demo_history import demo_history_install


class Command(BaseCommand):
    help = "Install the demo team, users, ticket-triage workflow and model; submit demo items."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=300, help="Demo tickets to submit.")
        parser.add_argument(
            "--password", help="One password for every demo user (default: a new random one each)."
        )
        parser.add_argument(
            "--passwords-file",
            type=Path,
            help="Keep each user's random password in this file and reuse it on the next run.",
        )
        parser.add_argument(
            "--no-history",
            action="store_false",
            dest="history",
            help="Leave out the past work (reviews, gold, four-eyes, a release, a retrained model)",
        )

    def handle(
        self,
        *args,
        items: int,
        password: str | None,
        passwords_file: Path | None,
        history: bool,
        **options,
    ):
        kept = demo_passwords_kept(passwords_file) if passwords_file and not password else None
        demo = demo_install(password=password, passwords=kept)
        demo_sla_install(demo)
        if history:
            demo_history_install(demo)
        if items:
            demo_items_submit(demo, count=items)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo workflow '{demo.workflow.slug}' ready; {items} tickets submitted."
            )
        )
        self.stdout.write("Sign in as (username / password / role):")
        roles = {username: label for username, _, label in DEMO_PEOPLE} | {"admin": "Admin"}
        for username, secret in demo.passwords.items():
            self.stdout.write(f"  {username:<11} {secret:<16} {roles[username]}")
        self.stdout.write(f"API token for api-client: {demo.api_token}")
        if kept:
            self.stdout.write(f"(Kept in {passwords_file}; delete it for new passwords.)")
