"""The demo workflow: support-ticket triage, defined in workflows/definitions/ticket-triage.yaml."""

from pathlib import Path

from workflows.definitions import workflow_file_load

DEMO_FILE = Path(__file__).resolve().parent.parent / "definitions" / "ticket-triage.yaml"
TICKET_TRIAGE = workflow_file_load(DEMO_FILE)
