"""The API describes itself: /api/docs/ (Swagger UI from our own static files), the schema's
error responses, and the Bearer form of the token header."""

import pytest
import yaml
from django.test import Client

from tests.support.tokens import token_for


@pytest.mark.django_db
def test_a_bearer_token_is_accepted_like_a_token(demo, integrator):
    key = token_for(integrator)
    for header in (f"Bearer {key}", f"Token {key}"):
        answer = Client().get("/api/v1/queues/", headers={"Authorization": header})
        assert answer.status_code == 200, header
    refused = Client().get("/api/v1/queues/", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    assert refused.json() == {"detail": "The token is not valid, revoked or expired."}


@pytest.mark.django_db
def test_the_docs_page_loads_swagger_ui_from_our_static_files(client, integrator):
    assert client.get("/api/docs/").status_code == 302, "signed-in people only"
    client.force_login(integrator)
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page
    script = client.get("/api/docs/?script=").content.decode()
    assert "/api/schema/" in script


@pytest.mark.django_db
def test_every_operation_describes_its_errors_in_the_one_error_shape(client, integrator):
    client.force_login(integrator)
    schema = yaml.safe_load(client.get("/api/schema/").content)
    error = {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]
    assert schema["components"]["securitySchemes"]["tokenAuth"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert responses["401"]["content"]["application/json"]["schema"] == error
            if "{" in path:
                assert "404" in responses, (method, path)
            if method in ("post", "put", "patch"):
                assert "400" in responses, (method, path)
