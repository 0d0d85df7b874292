import pytest
from rest_framework.test import APIClient
from core.tests.factories import *

def show(r):
    print(r.status_code, r.get("Content-Type"), r.content[:900])

def test_probe(owner, installation, organization):
    c = APIClient(raise_request_exception=False); c.force_authenticate(owner)
    show(c.get("/api/v1/installations/?sort=-from_timestamp_s"))
    show(c.get("/api/v1/installations/?sort=-from_time"))
    show(c.get("/api/v1/sites/?fields[Site]=name"))
    show(c.get("/api/v1/sites/?include=operator,address"))
    show(c.get("/api/v1/sites?page[size]=1"))
    show(c.get("/api/v1/rooms/"))
    show(c.get("/api/v1/quantities/"))
    c2 = APIClient(raise_request_exception=False)
    show(c2.get("/api/v1/models/"))
