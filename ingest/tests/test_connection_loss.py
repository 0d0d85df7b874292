"""Ingest skips Django's per-request ``SELECT 1`` and relies on retrying
instead: a connection the server dropped must not cost a sample."""

import json
import time

import psycopg
import pytest
from django.db import connection

from core.models import Sample
from ingest.keys import ingest_key_create


def _sample(node, timestamp_s: int) -> str:
    return json.dumps(
        {
            "data": {
                "type": "Sample",
                "attributes": {"timestamp_s": timestamp_s, "co2_ppm": 612},
                "relationships": {"node": {"data": {"type": "Node", "id": str(node.pk)}}},
            }
        }
    )


def _terminate(backend_pid: int) -> None:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_sample_is_stored_after_the_server_dropped_the_connection(client, organization, node, batch):
    _, key = ingest_key_create(organization, "gateway")
    now = int(time.time())

    def post(timestamp_s):
        body = _sample(node, timestamp_s)
        if batch:
            body = json.dumps({"data": [json.loads(body)["data"]]})
        return client.post(
            "/ingest/v1/ingest/", body, content_type="application/vnd.api+json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )

    assert post(now - 60).status_code == 201
    _terminate(connection.connection.info.backend_pid)

    response = post(now - 30)

    assert response.status_code == 201, response.content
    assert Sample.objects.filter(node=node).count() == 2
