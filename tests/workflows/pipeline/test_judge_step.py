"""The judge adapter against a scripted endpoint, the judge section of a definition, and
routing rules that read a judge only while it is trusted."""

import json

import pytest

from tests.workflows.pipeline.fake_endpoints import FakeEndpoint, chat_answer
from workflows.definitions import DefinitionInvalid, workflow_file_load
from workflows.demo.definition import DEMO_FILE
from workflows.models import ModelAdapterKind, ModelVersion, PromptTemplate
from workflows.pipeline.adapters.base import ModelError
from workflows.pipeline.adapters.judge import JudgeAdapter
from workflows.pipeline.policy import JUDGE_UNTRUSTED, facts_for, route

RUBRIC = [
    {"name": "label_right", "question": "Is the label right?", "scale": [1, 5], "pass_at": 4},
    {"name": "polite", "question": "Is it polite?", "scale": [0, 1], "pass_at": 1},
]
POLICY = {
    "threshold": 0.8,
    "rules": [
        {
            "name": "judge-approves",
            "when": {"field": "judge.label_right.score", "gte": 4},
            "then": {"auto_accept": {}},
        },
    ],
}


def decide(judge: dict, *, confidence=0.5):
    facts = facts_for(confidence=confidence, output={"label": "billing"}, input={}, judge=judge)
    return route(policy=POLICY, facts=facts, default_queue="triage", item_key="k")


def test_a_trusted_judge_decides_by_its_score():
    approved = decide({"label_right": {"score": 5, "passed": True, "trusted": True}})
    assert (approved.action, approved.rule) == ("auto_accept", "judge-approves")
    assert approved.values == {"judge.label_right.score": 5}
    doubted = decide({"label_right": {"score": 2, "passed": False, "trusted": True}})
    assert (doubted.action, doubted.rule) == ("review", "below_threshold")


def test_a_rule_that_reads_an_untrusted_or_missing_score_sends_the_item_to_people():
    untrusted = decide(
        {"label_right": {"score": 5, "passed": True, "trusted": False}}, confidence=1
    )
    assert (untrusted.action, untrusted.rule, untrusted.queue) == (
        "review",
        JUDGE_UNTRUSTED,
        "triage",
    )
    assert untrusted.values == {
        "rule": "judge-approves",
        "judge.label_right": "judge not trusted",
    }
    unscored = decide({}, confidence=1)
    assert unscored.action == "review"
    assert unscored.values["judge.label_right"] == "not scored"


@pytest.fixture
def judge_file(tmp_path):
    def write(judge: dict, rules: list[dict]):
        text = DEMO_FILE.read_text()
        path = tmp_path / "judged.yaml"
        data = text.replace("  routing:\n", f"  judge: {json.dumps(judge)}\n  routing:\n", 1)
        data = data.replace("    rules:\n", f"    rules:\n{_rules_yaml(rules)}", 1)
        path.write_text(data)
        return path

    return write


def _rules_yaml(rules: list[dict]) -> str:
    return "".join(f"      - {json.dumps(rule)}\n" for rule in rules)


JUDGE = {
    "name": "triage-judge",
    "version": "1",
    "rubric": [RUBRIC[0] | {"field": "label"}],
    "trust": {"min_kappa": 0.5, "min_items": 30},
}


def test_a_definition_declares_a_judge_and_rules_that_read_it(judge_file):
    loaded = workflow_file_load(judge_file(JUDGE, POLICY["rules"]))
    assert loaded.definition["judge"]["rubric"][0]["pass_at"] == 4


@pytest.mark.parametrize(
    ("judge", "rules", "problem"),
    [
        (JUDGE, [POLICY["rules"][0] | {"when": {"field": "judge.tone.score", "gte": 4}}], "tone"),
        (JUDGE | {"rubric": [RUBRIC[0] | {"pass_at": 9}]}, [], "pass_at"),
        (JUDGE | {"rubric": [RUBRIC[0] | {"scale": [5, 1]}]}, [], "scale"),
        (JUDGE | {"rubric": [RUBRIC[0] | {"field": "colour"}]}, [], "colour"),
        (JUDGE | {"rubric": [RUBRIC[0], RUBRIC[0]]}, [], "named twice"),
        (JUDGE | {"trust": {"min_kappa": 2}}, [], "min_kappa"),
    ],
)
def test_a_wrong_judge_section_is_refused_with_the_field(judge_file, judge, rules, problem):
    with pytest.raises(DefinitionInvalid, match=problem):
        workflow_file_load(judge_file(judge, rules))


@pytest.fixture
def endpoint():
    server = FakeEndpoint()
    yield server
    server.close()


@pytest.fixture
def judge(db, endpoint):
    PromptTemplate.objects.create(
        name="triage-judge",
        version=2,
        system="You grade ticket triage.",
        user="Ticket: {subject}\nAnswer: {model_output}\nRubric:\n{rubric}",
    )
    return ModelVersion.objects.create(
        name="triage-judge",
        version="2",
        adapter=ModelAdapterKind.JUDGE,
        config={
            "base_url": f"{endpoint.url}/v1",
            "model": "judge-model",
            "timeout_s": 1,
            "price_in_per_1k": 1.0,
            "price_out_per_1k": 2.0,
            "prompt": {"name": "triage-judge", "version": 2},
        },
    )


def test_the_judge_scores_each_rubric_item_with_a_rationale(judge, endpoint):
    endpoint.default = (
        200,
        chat_answer(
            json.dumps(
                {
                    "label_right": {"score": 4, "rationale": "billing fits a refund"},
                    "polite": {"score": 0, "rationale": "curt"},
                }
            )
        ),
    )
    answer = JudgeAdapter(judge).score(
        item_input={"subject": "Refund"}, output={"label": "billing"}, rubric=RUBRIC
    )
    assert {name: (s.score, s.passed) for name, s in answer.scores.items()} == {
        "label_right": (4, True),
        "polite": (0, False),
    }
    assert answer.scores["label_right"].rationale == "billing fits a refund"
    assert answer.cost == pytest.approx((120 * 1.0 + 8 * 2.0) / 1000)
    prompt = endpoint.requests[0]["body"]["messages"][1]["content"]
    assert prompt.startswith('Ticket: Refund\nAnswer: {"label": "billing"}\nRubric:\n')
    assert "- label_right: Is the label right? (score 1 to 5)" in prompt


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"label_right": {"score": 4}}', "did not score 'polite'"),
        ('{"label_right": {"score": 7}, "polite": {"score": 1}}', "not a whole number 1-5"),
        ('{"label_right": {"score": 4.5}, "polite": {"score": 1}}', "not a whole number"),
        ('{"label_right": {"score": true}, "polite": {"score": 1}}', "not a whole number"),
        ("four out of five", "unusable answer"),
    ],
)
def test_an_answer_outside_the_rubric_is_a_model_error(judge, endpoint, content, message):
    endpoint.default = (200, chat_answer(content))
    with pytest.raises(ModelError, match=message):
        JudgeAdapter(judge).score(item_input={}, output={}, rubric=RUBRIC)
