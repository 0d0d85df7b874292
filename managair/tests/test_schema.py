from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

CHECKED_IN = Path(settings.BASE_DIR) / "schema.yaml"


def test_checked_in_schema_matches_the_code(tmp_path):
    generated = tmp_path / "schema.yaml"
    # --fail-on-warn makes a schema warning fail the test as well.
    call_command("spectacular", "--file", str(generated), "--validate", "--fail-on-warn")
    assert generated.read_text() == CHECKED_IN.read_text(), (
        "schema.yaml is stale: regenerate it with `make schema` and commit it."
    )


def test_schema_endpoint_serves_the_openapi_document(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"openapi: 3" in response.content


@pytest.mark.parametrize("path", ["/api/v1/schema/swagger-ui/", "/api/v1/schema/redoc/"])
def test_api_docs_load_their_scripts_from_our_own_static_files(client, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn" not in page.lower()
