"""The Grafana dashboard and the alert rules ask only for series the app really exposes."""

import json
import re
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SERIES = re.compile(r"\breviewapp[a-z0-9_:]*")

pytestmark = pytest.mark.django_db


def exposed(scrape_text: str) -> set[str]:
    names = set()
    for line in scrape_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "counter":
                names.add(f"{name}_total")
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def recorded_by_rules() -> set[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return {r["record"] for group in rules["groups"] for r in group["rules"] if "record" in r}


def test_every_dashboard_query_names_an_exposed_series(scrape):
    dashboard = json.loads((DEPLOY / "grafana" / "reviewapp.json").read_text())
    known = exposed(scrape().text) | recorded_by_rules()
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ] + [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]

    assert len(queries) > 20
    unknown = {name for query in queries for name in SERIES.findall(query)} - known
    assert not unknown


def test_every_alert_names_an_exposed_series(scrape):
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    known = exposed(scrape().text) | recorded_by_rules()
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]

    unknown = {name for expr in exprs for name in SERIES.findall(expr)} - known
    assert not unknown
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
    assert {
        "ReviewBreachesRising",
        "PipelineBacklogGrowing",
        "NoWorkerHeartbeat",
        "DeadLetters",
        "ModelBreakerOpen",
        "DriftAlarm",
    } <= alerts
