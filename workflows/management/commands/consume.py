import logging

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from reviewapp.core.bus import bus_kind
from reviewapp.core.permissions import SUBMIT_ITEMS
from reviewapp.core.supervisor import StopWhenAsked
from workflows.access import get_workflow_for_user
from workflows.ingest.bus.consumer import BusIngest, bus_consume

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Ingest items from a message bus: an AMQP queue (--source amqp://... --queue NAME) or a "
        "NATS JetStream stream (--source nats://... --stream S --subject X). Messages are "
        'JSON {"input": {...}, "idempotency_key": "...", "workflow": "slug"}; acknowledged '
        "after their items are committed; malformed ones are dead-lettered."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="amqp://... or nats://...")
        parser.add_argument("--queue", help="AMQP: the queue to consume")
        parser.add_argument("--stream", help="NATS: the JetStream stream")
        parser.add_argument("--subject", help="NATS: the subject to consume")
        parser.add_argument(
            "--durable", default="reviewapp-ingest", help="NATS: the durable consumer's name"
        )
        parser.add_argument(
            "--ack-wait",
            type=float,
            default=30.0,
            help="NATS: seconds before an unacknowledged message is delivered again",
        )
        parser.add_argument("--workflow", help="the workflow (else each message names its own)")
        parser.add_argument(
            "--as-user", required=True, help="who submits the items (SUBMIT_ITEMS is checked)"
        )
        parser.add_argument("--batch", type=int, default=200, help="messages per transaction")
        parser.add_argument(
            "--exit-when-idle",
            type=float,
            default=None,
            help="stop after this many seconds without a message (default: run until stopped)",
        )

    def handle(self, *args, **options):
        source_url = options["source"]
        try:
            kind = bus_kind(source_url)
        except Exception as exc:
            raise CommandError(str(exc)) from exc
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        try:
            submitter = get_user_model().objects.get(username=options["as_user"], is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No active user {options['as_user']!r}.") from None
        workflow = None
        if options["workflow"]:
            try:
                workflow = get_workflow_for_user(submitter, options["workflow"], SUBMIT_ITEMS)
            except Http404:
                raise CommandError(
                    f"{submitter.get_username()} may not submit items to a workflow "
                    f"{options['workflow']!r} (or there is none)."
                ) from None
        source = self._open(kind, source_url, options)
        stop = StopWhenAsked()
        logger.info("consuming %s as %s", source.name, submitter.get_username())
        try:
            totals = bus_consume(
                ingest=BusIngest(source=source, submitter=submitter, workflow=workflow),
                batch=options["batch"],
                should_stop=lambda: stop.asked,
                exit_when_idle=options["exit_when_idle"],
            )
        finally:
            source.close()
        self.stdout.write(
            f"{source.name}: {totals.created} items created, {totals.replayed} replays, "
            f"{totals.dead_lettered} dead-lettered in {totals.batches} batches"
        )

    def _open(self, kind: str, url: str, options):
        if kind == "amqp":
            from workflows.ingest.bus.amqp import AmqpSource

            if not options["queue"]:
                raise CommandError("An AMQP source needs --queue.")
            try:
                return AmqpSource(url, options["queue"], prefetch=options["batch"])
            except Exception as exc:
                raise CommandError(f"Cannot consume {options['queue']!r}: {exc}") from exc
        from workflows.ingest.bus.jetstream import JetStreamSource

        if not (options["stream"] and options["subject"]):
            raise CommandError("A NATS source needs --stream and --subject.")
        try:
            return JetStreamSource(
                url,
                options["stream"],
                options["subject"],
                durable=options["durable"],
                ack_wait=options["ack_wait"],
                max_ack_pending=max(options["batch"] * 2, 1000),
            )
        except Exception as exc:
            raise CommandError(f"Cannot consume stream {options['stream']!r}: {exc}") from exc
