"""Create (or re-rate) a pairwise queue of a workflow for one of its teams."""

from django.core.management.base import BaseCommand, CommandError

from reviewapp.core.accounts.models import Team
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.review.pairwise.services import pairwise_queue_create
from workflows.models import Workflow


class Command(BaseCommand):
    help = "Create a pairwise queue: shadow answers of finished items are compared in it."

    def add_arguments(self, parser):
        parser.add_argument("--workflow", required=True)
        parser.add_argument("--team", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--sample-rate", type=float, default=0.2)

    def handle(self, *args, **options):
        try:
            workflow = Workflow.objects.get(slug=options["workflow"])
            team = Team.objects.get(slug=options["team"])
        except (Workflow.DoesNotExist, Team.DoesNotExist) as missing:
            raise CommandError(str(missing)) from None
        try:
            queue = pairwise_queue_create(
                team=team,
                workflow=workflow,
                slug=options["slug"],
                name=options["name"],
                sample_rate=options["sample_rate"],
            )
        except (InvalidRequest, Conflict) as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(f"Pairwise queue {queue.slug} (id {queue.pk}) of {workflow.slug}.")
