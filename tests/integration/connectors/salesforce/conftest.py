"""Fixtures for the Salesforce connector's tests against the sandbox CRM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

runner = pytest.importorskip("kam_sync.sandbox.runner")


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Any]]:
    stack: list[Any] = []

    def start(**kwargs: Any) -> Any:
        context = runner.running_sandbox("salesforce", **kwargs)
        handle = context.__enter__()
        stack.append(context)
        return handle

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)
