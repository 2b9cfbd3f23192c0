"""Sending background work to Celery by task name.

Services decide what runs in the background; the Celery tasks that run it import those services.
A service names the task instead of importing its module, so a tasks module imports its services
and never the other way round. Work is sent after the current transaction commits, because the
task reads what the transaction wrote (outside a transaction it is sent at once).
"""

from celery import current_app
from django.db import transaction


def job_send(task: str, *args: object, countdown: float | None = None) -> None:
    current_app.send_task(task, args=args, countdown=countdown)


def job_send_on_commit(task: str, *args: object) -> None:
    transaction.on_commit(lambda: job_send(task, *args))
