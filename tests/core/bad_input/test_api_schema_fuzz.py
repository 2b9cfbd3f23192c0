"""Schemathesis over the published API schema: no generated request gets a 5xx, and every
answer matches what the schema describes for its status (typed bodies and the error shape).

Every operation of ``/api/schema/`` is called through the real WSGI application (middleware,
authentication, parsers, services, PostgreSQL), with valid and invalid requests generated from
the schema, in turn as a manager, an approver and the demo's integrator.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from tests.support.tokens import token_for

# Few examples per operation and mode keep the whole run near a minute on a busy machine; the
# point is every operation meeting odd input, not exhaustive search.
EXAMPLES = 3
# An invalid request is mostly refused before any query: two per operation find what three do.
NEGATIVE_EXAMPLES = 2


@pytest.fixture
def api_schema(demo, manager, settings):
    # schemathesis calls the WSGI app as "localhost".
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    client = Client()
    client.force_login(manager)
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    schema = schemathesis.openapi.from_dict(response.json())
    schema.app = get_wsgi_application()
    # As Django's test client does: a request must not close the test's connection, which holds
    # the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


def has_inputs(operation) -> bool:
    parts = (operation.path_parameters, operation.query, operation.headers, operation.cookies)
    return bool(list(operation.body)) or any(len(part) for part in parts)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(api_schema, demo, manager, approver, mode):
    # Each persona may reach operations the others may not (a manager's settings, an
    # approver's canaries, the integrator's ingest).
    tokens = [token_for(user) for user in (manager, approver)]
    tokens.append(demo.api_token)
    failures = []
    called = 0
    for operation in operations(api_schema):
        if mode is GenerationMode.NEGATIVE and not has_inputs(operation):
            continue  # nothing to make invalid; searching for it only costs time

        @hypothesis_settings(
            max_examples=EXAMPLES if mode is GenerationMode.POSITIVE else NEGATIVE_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case):
            nonlocal called
            token = tokens[called % len(tokens)]
            called += 1
            response = case.call(headers={"Authorization": f"Token {token}"})
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {response.status_code}: "
                    f"{response.text[:300]}\n{case.as_curl_command()[:600]}"
                )
                return
            try:
                case.validate_response(
                    response,
                    checks=[
                        not_a_server_error,
                        response_schema_conformance,
                        content_type_conformance,
                    ],
                )
            except Exception as mismatch:  # schemathesis raises a group of its failures
                failures.append(
                    f"{case.method} {case.formatted_path} {response.status_code}: {mismatch}"[:900]
                )

        try:
            call()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE
    assert called > 0
    assert not failures, "\n".join(failures)
