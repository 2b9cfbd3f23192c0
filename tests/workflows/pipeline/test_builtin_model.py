import pytest
from sklearn.preprocessing import FunctionTransformer
from skops import io as skops_io

from reviewapp.core.checksums import file_sha256
from tests.support.files import artefact_path
from workflows.demo.definition import TICKET_TRIAGE
from workflows.demo.tickets import generate_tickets
from workflows.pipeline.adapters.base import ModelInput
from workflows.pipeline.adapters.builtin import ModelArtefactError, SklearnAdapter


def test_the_demo_model_gives_a_label_and_calibrated_probabilities(demo):
    adapter = SklearnAdapter(artefact=demo.model_version.artefact, sha256=demo.model_version.sha256)
    tickets = generate_tickets(50, seed=99, mixed_share=0)
    results = adapter.predict(
        [ModelInput(input=t.as_input(), text=f"{t.subject}\n{t.body}") for t in tickets]
    )
    for result in results:
        assert result.output["label"] in TICKET_TRIAGE.definition["labels"]
        assert sum(result.probabilities.values()) == pytest.approx(1, abs=1e-3)
        assert result.confidence == max(result.probabilities.values())
    accuracy = sum(r.output["label"] == t.label for r, t in zip(results, tickets, strict=True))
    assert accuracy / len(tickets) > 0.8


def test_it_refuses_an_artefact_whose_checksum_changed(demo):
    with pytest.raises(ModelArtefactError, match="does not match its recorded checksum"):
        SklearnAdapter(artefact=demo.model_version.artefact, sha256="0" * 64)


def test_it_refuses_an_artefact_with_types_outside_the_allow_list(demo, media_root):
    # A function transformer can call arbitrary code: exactly what a tampered file would carry.
    skops_io.dump(FunctionTransformer(func=print), artefact_path("models/evil.skops"))
    path = artefact_path("models/evil.skops")
    with pytest.raises(ModelArtefactError, match="untrusted types"):
        SklearnAdapter(artefact="models/evil.skops", sha256=file_sha256(path))
