"""Build dataset exports end to end on whatever ``DATABASE_URL`` names; print a JSON summary.

Run by ``test_sqlite_quickstart_export.py`` in a subprocess, because the test suite itself
only runs on PostgreSQL: ``DATABASE_URL=sqlite:///.../db.sqlite3 python -m
tests.learn.datasets.sqlite_export_script``. It migrates a fresh database, installs the demo as the
quick start does, routes tickets in this process (no worker), corrects a few at fixed instants
(so the same script on PostgreSQL gives the same bytes), then previews, requests, approves
(two people) and builds an export in every format through the real services, and looks at the
datasets pages with Django's test client.
"""

import hashlib
import json
import os
import sys
from datetime import UTC, datetime


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    import django

    django.setup()

    import time_machine
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from reviewapp.core.accounts.models import Role
    from reviewapp.core.accounts.services import membership_add
    from reviewapp.learn.datasets.exporters import jsonl_line
    from reviewapp.learn.datasets.models import ExportFormat, ExportStatus
    from reviewapp.learn.datasets.selectors import dataset_preview
    from reviewapp.learn.datasets.services import (
        dataset_export_approve,
        dataset_export_build,
        dataset_export_download,
        dataset_export_request,
    )
    from reviewapp.learn.datasets.specs import protect_input, sensitive_fields, split_for
    from reviewapp.operations.demo import demo_install, demo_items_submit
    from reviewapp.review.corrections.models import Correction
    from reviewapp.review.corrections.services import canonical_hash
    from reviewapp.review.reviews.claims import review_task_claim
    from reviewapp.review.reviews.decisions import review_task_decide
    from tests.support.files import export_path, release_dir
    from workflows.demo.tickets import LABELS
    from workflows.models import Item
    from workflows.pipeline.engine import item_run_step
    from workflows.pipeline.order import FIRST_STEP
    from workflows.services import workflow_publish

    setup_test_environment()  # lets the test client see templates' context; no mail goes out
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", interactive=False, verbosity=0)
    demo = demo_install(password="correct-horse-battery-staple")
    demo_items_submit(demo, count=40, seed=5)
    for item_id in Item.objects.order_by("pk").values_list("pk", flat=True):
        step = FIRST_STEP
        while step is not None:
            step = item_run_step(item_id=item_id, step=step).next_step
    User = get_user_model()
    alice = User.objects.get(username="alice")
    # Fixed instants, one a whole second (isoformat drops the fraction), so the rows are the
    # same bytes on any database.
    moments = [
        datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 24, 10, 0, 0, 5, tzinfo=UTC),
        datetime(2026, 11, 24, 10, 0, 1, 250000, tzinfo=UTC),
        datetime(2026, 11, 24, 10, 5, 7, 123456, tzinfo=UTC),
        datetime(2026, 11, 24, 11, 0, 0, 999999, tzinfo=UTC),
    ]
    reasons = ["wrong-category", "ambiguous-text", "wrong-category", "mixed-topics", None]
    for moment, reason in zip(moments, reasons, strict=True):
        with time_machine.travel(moment, tick=False):
            task = review_task_claim(queue=demo.queue, reviewer=alice)
            model_label = task.item.prediction.output["label"]
            review_task_decide(
                task=task,
                reviewer=alice,
                claim_token=task.claim_token,
                outcome="correct" if reason else "reject",
                output={"label": next(label for label in LABELS if label != model_label)}
                if reason
                else None,
                reason_codes=[reason] if reason else ["ambiguous-text"],
                comment='Ünïcode, "quotes" and a\nnewline' if reason == "mixed-topics" else "",
            )
    corrections = list(Correction.objects.order_by("created_at", "id"))
    # The third ticket seen before with its keys in another order: the same input, so only
    # its latest correction (the third) is a dataset row, not the second.
    reordered = dict(reversed(corrections[2].input.items()))
    Correction.objects.filter(pk=corrections[1].pk).update(
        input=reordered, input_hash=canonical_hash(reordered)
    )
    # Sensitive fields, and the four-eyes rule that comes with a sensitive workflow.
    definition = dict(demo.workflow.current_version.definition)
    schema = dict(definition["input_schema"])
    marks = {"customer_tier": "pseudonymise", "subject": "redact"}
    schema["properties"] = {
        name: (spec | {"x-sensitive": marks[name]}) if name in marks else spec
        for name, spec in schema["properties"].items()
    }
    workflow = workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=definition | {"input_schema": schema, "sensitive": True},
    )
    mel, ines = User.objects.get(username="mel"), User.objects.get(username="ines")
    nora = User.objects.create_user(username="nora")
    membership_add(team=demo.team, user=nora, role=Role.ML_ENGINEER)

    sensitive = sensitive_fields(workflow)
    kept = [c for c in Correction.objects.order_by("created_at", "id") if c.pk != corrections[1].pk]
    reference = b"".join(
        jsonl_line(
            {
                "item_id": c.item_id,
                "input": protect_input(c.input, sensitive),
                "model_output": c.model_output,
                "human_output": c.human_output,
                "diff": c.diff,
                "reason_codes": c.reason_codes,
                "comment": c.comment,
                "model_version": c.model_version,
                "reviewer": c.reviewer_pseudonym,
                "corrected_at": c.created_at.isoformat(),
                "split": split_for(c.input),
                "disagreement": None,
            }
        )
        for c in kept
    )

    previews = {
        name: dataset_preview(workflow=workflow, filters=filters)
        for name, filters in {
            # Every decision, the rejection included (the default leaves rejections out).
            "all": {"decision": "all"},
            "wrong-category": {"reason_codes": ["wrong-category"]},
            "wrong-category-or-mixed": {"reason_codes": ["mixed-topics", "wrong-category"]},
            "rejected": {"decision": "reject"},
            "after-10:00:01": {"created_after": "2026-11-24T10:00:01+00:00", "decision": "all"},
        }.items()
    }

    exports = {}
    # Frozen clock: the approval chain (with its times) is in the manifest and data card, so
    # every file, the Hugging Face zip included, is the same bytes on any database.
    clock = time_machine.travel(datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC), tick=False)
    clock.start()
    # Every format of corrections (preference pairs come from pairwise review, not corrections).
    formats = [f for f in ExportFormat.values if f != ExportFormat.PREFERENCE_JSONL]
    for export_format in formats:
        export = dataset_export_request(
            workflow=workflow,
            requested_by=mel,
            export_format=export_format,
            filters={"decision": "all"},
            note="quick start",
        )
        dataset_export_approve(export=export, approver=ines)
        dataset_export_approve(export=export, approver=nora)
        built = dataset_export_build(export_id=export.pk)
        assert built is not None, export_format
        name = dataset_export_download(export=built, user=ines).path
        path = export_path(built)
        assert path.as_posix().endswith("/" + name)
        exports[export_format] = {
            "status": built.status,
            "rows": built.rows_total,
            "release": built.release_name,
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "sha256_recorded": built.sha256,
            "manifest_rows": built.manifest["rows"],
            "manifest_counts": built.manifest["counts"],
            "files": sorted(p.name for p in release_dir(built).iterdir()),
        }
        if export_format == ExportFormat.JSONL:
            exports[export_format]["text"] = path.read_text(encoding="utf-8")
            exports[export_format]["matches_reference"] = path.read_bytes() == reference
        assert built.status == ExportStatus.READY, export_format

    # Still at the build's time: download links expire (REVIEWAPP_EXPORT_LINK_TTL).
    client = Client()
    client.force_login(mel)
    pages = {}
    for name, (method, url, data, headers) in {
        "list": ("get", "/datasets/", None, {}),
        "preview": (
            "post",
            "/datasets/preview",
            {"workflow": workflow.slug, "decision": "all"},
            {},
        ),
        "preview_htmx": (
            "post",
            "/datasets/preview",
            {"workflow": workflow.slug, "reason_codes": ["wrong-category"]},
            {"HX-Request": "true"},
        ),
        "download": ("get", f"/datasets/{built.pk}/download", None, {}),
    }.items():
        response = getattr(client, method)(url, data, headers=headers)
        body = b"".join(response) if response.streaming else response.content
        pages[name] = {
            "status": response.status_code,
            "html": body.decode(errors="replace") if name != "download" else "",
            "sha256": hashlib.sha256(body).hexdigest(),
        }
    # The JSON API on the same database: preview, and a bad reason code is a field error.
    api = {}
    for name, filters in {"reasons": {"reason_codes": ["mixed-topics"]}, "bad": {"x": 1}}.items():
        response = client.post(
            "/api/v1/exports/preview",
            {"workflow": workflow.slug, "filters": filters},
            content_type="application/json",
        )
        api[name] = {"status": response.status_code, "json": response.json()}
    clock.stop()

    summary = {
        "vendor": connection.vendor,
        "corrections": [
            {"item_id": c.item_id, "reason_codes": c.reason_codes} for c in corrections
        ],
        "previews": {
            name: {key: found[key] for key in ("rows", "by_class", "by_reason", "by_split")}
            for name, found in previews.items()
        },
        "preview_sample_inputs": [row["input"] for row in previews["all"]["samples"]],
        "exports": exports,
        "api": api,
        "pages": pages,
    }
    json.dump(summary, sys.stdout)


if __name__ == "__main__":
    main()
