"""The routing policy interpreter: every operator, combinator and action, no eval."""

import pytest
import yaml
from jsonschema import Draft202012Validator

from workflows.definitions import DefinitionInvalid, workflow_file_load
from workflows.demo.definition import DEMO_FILE
from workflows.pipeline.policy import (
    ROUTING_SCHEMA,
    Facts,
    condition_holds,
    facts_for,
    route,
    sample_draw,
)

FACTS = Facts(
    confidence=0.72,
    field_confidence={"label": 0.72},
    input={"customer_tier": "enterprise", "amount": 1200, "country": "DE"},
    output={"label": "billing"},
)


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"field": "input.customer_tier", "equals": "enterprise"}, True),
        ({"field": "input.customer_tier", "equals": "free"}, False),
        ({"field": "output.label", "not_equals": "billing"}, False),
        ({"field": "confidence", "lt": 0.8}, True),
        ({"field": "confidence", "lt": 0.72}, False),
        ({"field": "confidence", "lte": 0.72}, True),
        ({"field": "input.amount", "gt": 1000}, True),
        ({"field": "input.amount", "gt": 1200}, False),
        ({"field": "input.amount", "gte": 1200}, True),
        ({"field": "input.country", "in": ["IR", "KP", "DE"]}, True),
        ({"field": "input.country", "not_in": ["IR", "KP"]}, True),
        ({"field": "input.country", "not_in": ["DE"]}, False),
        ({"field": "field_confidence.label", "lt": 0.75}, True),
    ],
)
def test_every_operator_compares_the_named_fact(condition, holds):
    seen = {}
    assert condition_holds(condition, FACTS, seen) is holds
    assert seen == {condition["field"]: FACTS.value(condition["field"])}


def test_all_any_and_not_combine_conditions():
    enterprise = {"field": "input.customer_tier", "equals": "enterprise"}
    cheap = {"field": "input.amount", "lt": 100}
    assert condition_holds({"all": [enterprise, {"not": cheap}]}, FACTS, {})
    assert not condition_holds({"all": [enterprise, cheap]}, FACTS, {})
    assert condition_holds({"any": [cheap, enterprise]}, FACTS, {})
    assert not condition_holds({"any": [cheap, {"not": enterprise}]}, FACTS, {})


def test_a_missing_field_or_a_type_mismatch_never_matches_an_ordering():
    assert not condition_holds({"field": "input.missing", "gt": 0}, FACTS, {})
    assert not condition_holds({"field": "input.country", "gt": 5}, FACTS, {})
    assert condition_holds({"field": "input.missing", "equals": None}, FACTS, {})


def test_text_is_never_evaluated_as_code():
    hostile = Facts(0.5, {}, {"note": "__import__('os').system('true')"}, {"label": "x"})
    assert not condition_holds({"field": "input.note", "equals": "0"}, hostile, {})


POLICY = {
    "threshold": 0.8,
    "rules": [
        {
            "name": "enterprise-billing",
            "when": {
                "all": [
                    {"field": "input.customer_tier", "equals": "enterprise"},
                    {"field": "output.label", "equals": "billing"},
                ]
            },
            "then": {"review": {"priority": 5}},
        },
        {
            "name": "trusted-free",
            "when": {"field": "input.customer_tier", "equals": "free"},
            "then": {"auto_accept": {}},
        },
    ],
}


def test_the_first_matching_rule_decides_and_records_what_it_saw():
    decision = route(policy=POLICY, facts=FACTS, default_queue="q", item_key="1")
    assert (decision.action, decision.rule, decision.queue, decision.priority) == (
        "review",
        "enterprise-billing",
        "q",
        5,
    )
    assert decision.values == {"input.customer_tier": "enterprise", "output.label": "billing"}


def test_an_auto_accept_rule_overrides_the_threshold():
    facts = Facts(0.3, {}, {"customer_tier": "free"}, {"label": "billing"})
    decision = route(policy=POLICY, facts=facts, default_queue="q", item_key="1")
    assert (decision.action, decision.rule) == ("auto_accept", "trusted-free")


@pytest.mark.parametrize(
    ("confidence", "action", "rule"),
    [
        (0.79, "review", "below_threshold"),
        (0.8, "auto_accept", "confident"),
    ],
)
def test_without_a_matching_rule_the_threshold_decides(confidence, action, rule):
    facts = Facts(confidence, {}, {"customer_tier": "pro"}, {"label": "shipping"})
    decision = route(policy=POLICY, facts=facts, default_queue="q", item_key="1")
    assert (decision.action, decision.rule) == (action, rule)
    assert decision.values == {"confidence": confidence, "threshold": 0.8}


def test_qa_sampling_is_deterministic_per_item_and_close_to_its_rate():
    policy = {"threshold": 0.5, "qa_sample": {"rate": 0.1, "priority": 1}}
    facts = Facts(0.9, {}, {}, {"label": "billing"})
    decisions = [
        route(policy=policy, facts=facts, default_queue="qa", item_key=str(i)) for i in range(2000)
    ]
    sampled = [d for d in decisions if d.qa_sample]
    assert 150 < len(sampled) < 250  # 10 % of 2000, within a generous margin
    assert all(d.action == "review" and d.queue == "qa" and d.priority == 1 for d in sampled)
    again = [
        route(policy=policy, facts=facts, default_queue="qa", item_key=str(i)).qa_sample
        for i in range(2000)
    ]
    assert again == [d.qa_sample for d in decisions]
    assert 0 <= sample_draw("42") < 1


def test_items_already_going_to_review_are_not_sampled():
    policy = {"threshold": 0.95, "qa_sample": {"rate": 1.0}}
    decision = route(policy=policy, facts=FACTS, default_queue="q", item_key="7")
    assert decision.rule == "below_threshold" and not decision.qa_sample


def test_the_schema_refuses_unknown_operators_and_eval_like_fields():
    validator = Draft202012Validator(ROUTING_SCHEMA)
    assert validator.is_valid(POLICY)
    bad_operator = {
        "threshold": 0.8,
        "rules": [
            {
                "name": "x",
                "when": {"field": "confidence", "matches": ".*"},
                "then": {"auto_accept": {}},
            }
        ],
    }
    assert not validator.is_valid(bad_operator)
    bad_field = {
        "threshold": 0.8,
        "rules": [
            {"name": "x", "when": {"field": "__class__", "equals": 1}, "then": {"auto_accept": {}}}
        ],
    }
    assert not validator.is_valid(bad_field)
    two_operators = {
        "threshold": 0.8,
        "rules": [
            {
                "name": "x",
                "when": {"field": "confidence", "lt": 1, "gt": 0},
                "then": {"auto_accept": {}},
            }
        ],
    }
    assert not validator.is_valid(two_operators)


# --- four_eyes(queue, priority) ----------------------------------------------------------------

FOUR_EYES_POLICY = {
    "threshold": 0.8,
    "rules": [
        {
            "name": "big-enterprise-refund",
            "when": {
                "all": [
                    {"field": "input.customer_tier", "equals": "enterprise"},
                    {"field": "input.amount", "gte": 1000},
                ]
            },
            "then": {"four_eyes": {"priority": 7}},
        },
    ],
    "qa_sample": {"rate": 1.0},
}


def test_a_four_eyes_rule_asks_for_two_reviews_and_records_what_it_saw():
    decision = route(policy=FOUR_EYES_POLICY, facts=FACTS, default_queue="q", item_key="1")
    assert (decision.action, decision.rule, decision.queue, decision.priority) == (
        "four_eyes",
        "big-enterprise-refund",
        "q",
        7,
    )
    assert decision.reviews == 2
    assert not decision.qa_sample  # already going to humans: never also a QA sample
    assert decision.as_reason() == {
        "rule": "big-enterprise-refund",
        "action": "four_eyes",
        "values": {"input.customer_tier": "enterprise", "input.amount": 1200},
        "qa_sample": False,
    }


def test_the_other_actions_cost_one_review_or_none():
    review = route(policy=POLICY, facts=FACTS, default_queue="q", item_key="1")
    confident = Facts(0.9, {}, {"customer_tier": "pro"}, {"label": "shipping"})
    accepted = route(policy={"threshold": 0.8}, facts=confident, default_queue="q", item_key="1")
    assert (review.action, review.reviews) == ("review", 1)
    assert (accepted.action, accepted.reviews) == ("auto_accept", 0)


def test_the_schema_takes_four_eyes_with_a_queue_and_refuses_anything_else_in_it():
    validator = Draft202012Validator(ROUTING_SCHEMA)
    assert validator.is_valid(FOUR_EYES_POLICY)
    rule = FOUR_EYES_POLICY["rules"][0]
    with_queue = {"threshold": 0.8, "rules": [rule | {"then": {"four_eyes": {"queue": "q"}}}]}
    assert validator.is_valid(with_queue)
    for then in (
        {"four_eyes": {"reviewers": 3}},
        {"four_eyes": {"priority": 101}},
        {"four_eyes": {}, "review": {}},
    ):
        assert not validator.is_valid({"threshold": 0.8, "rules": [rule | {"then": then}]}), then


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        (
            {"four_eyes": {"queue": "elsewhere"}},
            "ticket-triage.yaml: definition.routing.rules.0.then.four_eyes.queue: "
            "must be the workflow's queue",
        ),
        (
            {"four_eyes": {"seniors": "x"}},
            "ticket-triage.yaml: definition.routing.rules.0.then",
        ),
    ],
)
def test_an_invalid_four_eyes_rule_is_refused_naming_file_and_field(tmp_path, then, expected):
    data = yaml.safe_load(DEMO_FILE.read_text())
    data["definition"]["routing"]["rules"][0]["then"] = then
    path = tmp_path / "ticket-triage.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DefinitionInvalid) as refused:
        workflow_file_load(path)
    assert expected in str(refused.value)


def test_a_valid_four_eyes_rule_loads(tmp_path):
    data = yaml.safe_load(DEMO_FILE.read_text())
    data["definition"]["routing"]["rules"][0]["then"] = {
        "four_eyes": {"queue": data["queue"]["slug"], "priority": 2}
    }
    path = tmp_path / "ticket-triage.yaml"
    path.write_text(yaml.safe_dump(data))
    loaded = workflow_file_load(path)
    assert loaded.definition["routing"]["rules"][0]["then"]["four_eyes"]["priority"] == 2


@pytest.mark.parametrize(
    ("qa_sample", "expected"),
    [
        ({"rate": 0.1, "accuracy_floor": 0.9}, "accuracy_floor and raised_rate go together"),
        (
            {"rate": 0.2, "accuracy_floor": 0.9, "raised_rate": 0.2},
            "definition.routing.qa_sample.raised_rate: must be above rate",
        ),
        ({"rate": 0.1, "accuracy_floor": 1.5, "raised_rate": 0.5}, "definition.routing"),
    ],
)
def test_an_accuracy_floor_needs_a_higher_raised_rate(tmp_path, qa_sample, expected):
    data = yaml.safe_load(DEMO_FILE.read_text())
    data["definition"]["routing"]["qa_sample"] = qa_sample
    path = tmp_path / "ticket-triage.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DefinitionInvalid) as refused:
        workflow_file_load(path)
    assert expected in str(refused.value)


def test_a_raised_sample_rate_overrides_a_lower_policy_rate():
    policy = {"threshold": 0.5, "qa_sample": {"rate": 0.0}}
    confident = facts_for(confidence=0.9, output={"label": "billing"}, input={})
    keys = [str(n) for n in range(200)]
    plain = [route(policy=policy, facts=confident, default_queue="q", item_key=k) for k in keys]
    raised = [
        route(
            policy=policy,
            facts=confident,
            default_queue="q",
            item_key=k,
            sample_rate_at_least=0.5,
        )
        for k in keys
    ]
    assert not any(d.qa_sample for d in plain)
    sampled = [d for d in raised if d.qa_sample]
    assert 60 < len(sampled) < 140
    assert {d.values["qa_sample_rate"] for d in sampled} == {0.5}
