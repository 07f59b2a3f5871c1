"""Schemathesis: requests generated from the OpenAPI document, sent through the WSGI app, find no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from admin_panel.openapi import document

# Loaded eagerly: schemathesis' lazy fixture loader does not work with pytest 9 (it sets
# Node._nodeid, which pytest 9 removed). The app is passed to each call instead.
schema = schemathesis.openapi.from_dict(document())
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance]


@pytest.fixture
def admin_headers(panel):
    return panel.auth(panel.admin())  # an admin reaches every route


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, panel, admin_headers):
    case.call_and_validate(app=panel.app, headers=admin_headers, checks=CHECKS)


def test_the_served_document_is_the_one_tested(panel):
    assert panel.client.get("/api/v1/openapi.json").get_json() == document()


def test_the_document_covers_each_operation_once():
    operations = [(path, method) for path, item in document()["paths"].items() for method in item]
    assert len(operations) == len(set(operations)) >= 21
