"""End-user feedback from an application (works with a ``feedback``-scoped API key)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from plaudit.sdk import config as sdk_config
from plaudit.sdk import transport


class FeedbackError(Exception):
    """The server refused the feedback (the message says why) or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def feedback(
    task_id: str,
    values: Any,
    completion_ids: Iterable[str] | None = None,
    comment: str | None = None,
    *,
    completion_tags_selector: Iterable[str] | None = None,
    end_user_id: str | None = None,
    api_key: str | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Post feedback on completions (ids from ``plaudit.completion_id(response)``).

    Completions logged by this process are flushed first, so feedback on a response the user
    has just seen finds its completion on the server.
    """
    cfg = sdk_config.current()
    if not cfg.url:
        raise FeedbackError("PLAUDIT_URL is not set (or call plaudit.configure(url=...))")
    body: dict[str, Any] = {"task_id": task_id, "json_values": values, "comment": comment}
    if completion_ids is not None:
        body["completion_ids"] = list(completion_ids)
    if completion_tags_selector is not None:
        body["completion_tags_selector"] = list(completion_tags_selector)
    if end_user_id is not None:
        body["end_user_id"] = end_user_id
    if completion_ids is not None or completion_tags_selector is not None:
        transport.flush(timeout)
    headers = {"Authorization": f"Bearer {api_key or cfg.api_key}"}
    try:
        response = httpx.post(
            cfg.url + "/api/v1/feedback", json=body, headers=headers, timeout=timeout
        )
    except httpx.TransportError as exc:
        raise FeedbackError(f"could not reach plaudit at {cfg.url}: {exc}") from exc
    if not response.is_success:
        raise FeedbackError(_error_message(response), response.status_code)
    result: dict[str, Any] = response.json()
    return result


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(error, dict):
        error = error.get("message")
    return f"HTTP {response.status_code}: {error}"
