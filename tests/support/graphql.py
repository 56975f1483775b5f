"""Talking to a running Dagster webserver in e2e tests: its GraphQL endpoint, and waiting for it to answer."""

from __future__ import annotations

import json
import time
import urllib.request


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def wait_until(predicate, timeout_s: float, what: str):
    """``predicate()``'s first truthy result, polled each second (a refused connection counts as not yet)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if result := predicate():
                return result
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")
