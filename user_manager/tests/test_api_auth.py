import json, re
import pytest
from django.core import mail
from rest_framework.test import APIClient
from core.tests.factories import *

def show(r):
    print(r.status_code, r.get("Content-Type"), r.content[:700])

def test_probe(owner, organization, settings):
    c = APIClient(raise_request_exception=False)
    show(c.post("/api/v1/auth/registration/", {"username": "neu", "email": "neu@example.org", "password1": "a very long pass phrase 1", "password2": "a very long pass phrase 1"}, format="json"))
    for m in mail.outbox: print(m.subject, m.to, m.body)
    show(c.post("/api/v1/auth/login/", {"username": "neu", "password": "a very long pass phrase 1"}, format="json"))
    show(c.post("/api/v1/auth/registration/", {"data": {"type": "RegisterView", "attributes": {"username": "neu2", "email": "neu2@example.org", "password1": "a very long pass phrase 1", "password2": "a very long pass phrase 1"}}}))
    show(c.post("/api/v1/auth/registration/verify-email/", {"key": "bogus"}, format="json"))
    show(c.post("/api/v1/auth/login/", {"data": {"type": "LoginView", "attributes": {"username": "olga", "password": "correct horse battery staple"}}}))
    print(c.cookies)
    c2 = APIClient(raise_request_exception=False)
    c2.login(username="olga", password="correct horse battery staple")
    print(c2.cookies)
    show(c.post("/api/v1/auth/password/change/", {"new_password1": "another long pass phrase 2", "new_password2": "another long pass phrase 2"}, format="json"))
    show(c.post("/api/v1/auth/password/change/", {"data": {"type": "PasswordChangeView", "attributes": {"new_password1": "another long pass phrase 2", "new_password2": "another long pass phrase 2"}}}))
    import logging
    for name in ["", "django", "django.request"]:
        print(repr(name), logging.getLogger(name).handlers, logging.getLogger(name).level)
