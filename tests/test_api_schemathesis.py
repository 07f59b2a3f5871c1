"""Schemathesis: requests generated from the OpenAPI document, sent through the WSGI app, find no 5xx."""

from __future__ import annotations

import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from admin_panel.openapi import document
from worker.service import start_workers

# Loaded eagerly: schemathesis' lazy fixture loader does not work with pytest 9 (it sets
# Node._nodeid, which pytest 9 removed). The app is passed to each call instead.
schema = schemathesis.openapi.from_dict(document())
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance]


@pytest.fixture
def admin_headers(panel):
    return panel.auth(panel.admin())  # an admin reaches every route


@pytest.fixture
def working_panel(panel, engine):
    """The panel with a worker on its queue: a synchronous request (POST /v1.0/removebg) gets its
    answer instead of a 504 after SYNC_TIMEOUT_SECONDS."""
    stop = threading.Event()
    threads = start_workers(panel.settings, panel.queue, engine, stop, storage=panel.storage, sweep=False)
    yield panel
    stop.set()
    for thread in threads:
        thread.join(10)


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, working_panel, admin_headers):
    case.call_and_validate(app=working_panel.app, headers=admin_headers, checks=CHECKS)


def test_the_served_document_is_the_one_tested(panel):
    assert panel.client.get("/api/v1/openapi.json").get_json() == document()


def test_the_document_covers_each_operation_once():
    operations = [(path, method) for path, item in document()["paths"].items() for method in item]
    assert len(operations) == len(set(operations)) >= 21
