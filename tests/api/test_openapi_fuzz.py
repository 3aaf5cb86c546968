"""Schemathesis against plaudit's own OpenAPI document: no input may produce a 5xx.

Every operation is fuzzed with an authorised admin key against a database that holds a task,
completions and feedback, so generated requests reach the services rather than stopping at 401.
Examples per operation are bounded to keep the whole run within about a minute on 2 cores.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from plaudit.api.app import create_app
from plaudit.config import Settings
from plaudit.db.session import make_engine

# Small by default (the suite runs on 2 cores); raise it locally for a deeper search.
MAX_EXAMPLES = int(os.environ.get("PLAUDIT_FUZZ_EXAMPLES", "6"))


@pytest.fixture
def fuzz_app(app: Any, api: Any, org: Any) -> Any:
    task = api.task(org.headers, name="fuzz", completion_tags_selector=["fz"])
    api.completion(org.headers, "fz-1", ["fz"])
    api.feedback(org.headers, task["id"], completion_ids=["fz-1"])
    app.state.fuzz_headers = org.headers
    return app


def _operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation, read from a throwaway app at collection time."""
    app = create_app(Settings(), make_engine("sqlite://"))
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    return sorted((op.ok().method.upper(), op.ok().path) for op in loaded.get_all_operations())


OPERATIONS = _operations()


# schemathesis' pytest integration (`from_fixture`) does not run on pytest 9 (it sets
# `node._nodeid`), so each operation is its own test driving the operation's strategy.
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors(fuzz_app: Any, method: str, path: str) -> None:
    operation = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)[path][method]
    headers = fuzz_app.state.fuzz_headers

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same inputs on every run: a failure here is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    fuzz()
