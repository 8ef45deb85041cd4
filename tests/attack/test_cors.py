"""Issue 17.11: cross-origin reads of the REST API, as a browser on another site makes them.

A GET with If-None-Match from another origin needs a preflight (the header is not on the
CORS safelist); it must be answered. Credentials are never allowed together with `*`.
"""

from __future__ import annotations

import httpx

from tests.space.conftest import Served

ORIGIN = "https://someone-elses-dashboard.example"


def test_a_preflight_for_a_conditional_get_is_answered(served: Served) -> None:
    response = httpx.options(
        f"{served.url.rstrip('/')}/api/v1/leaderboard",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
        timeout=30,
    )
    assert response.status_code in (200, 204), (response.status_code, response.text)
    allowed_origin = response.headers.get("access-control-allow-origin")
    assert allowed_origin == "*", response.headers
    allowed = response.headers.get("access-control-allow-headers", "").lower()
    assert "if-none-match" in allowed or allowed == "*", response.headers
    assert "GET" in response.headers.get("access-control-allow-methods", ""), response.headers
    assert "access-control-allow-credentials" not in response.headers, response.headers


def test_a_cross_origin_get_is_readable_without_credentials(served: Served) -> None:
    first = httpx.get(f"{served.url.rstrip('/')}/api/v1/leaderboard", headers={"Origin": ORIGIN}, timeout=30)
    assert first.status_code == 200
    assert first.headers.get("access-control-allow-origin") == "*", first.headers
    assert "access-control-allow-credentials" not in first.headers, first.headers
    assert "etag" in first.headers.get("access-control-expose-headers", "").lower()
    again = httpx.get(
        f"{served.url.rstrip('/')}/api/v1/leaderboard",
        headers={"Origin": ORIGIN, "If-None-Match": first.headers["etag"]},
        timeout=30,
    )
    assert again.status_code == 304
    assert again.headers.get("access-control-allow-origin") == "*"
    assert "access-control-allow-credentials" not in again.headers


def test_the_api_never_writes_across_origins(served: Served) -> None:
    response = httpx.options(
        f"{served.url.rstrip('/')}/api/v1/leaderboard",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert "POST" not in response.headers.get("access-control-allow-methods", "")
    assert "access-control-allow-credentials" not in response.headers
