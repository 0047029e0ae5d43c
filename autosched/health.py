"""The health URL: ``path("autosched/", include("autosched.urls"))`` gives ``autosched/health/``.

HTTP 200 while a scheduler is alive and 503 when none is, by the rule ``schedulerstatus``
applies (``read_status``). Anyone gets that answer from the heartbeat alone, in a time that
does not grow with the number of tasks, which suits a liveness or readiness probe. Staff, and
a request bearing ``AUTOSCHED_HEALTH_TOKEN``, also get the failing tasks (at most
``FAILING_SHOWN`` names, and their count) and the cache's error text.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from autosched.conf import conf, valid_health_token
from autosched.status import read_status, task_state

__all__ = ["FAILING_SHOWN", "health"]

#: Most failing task names a response lists (sorted); ``failing_count`` has them all.
FAILING_SHOWN = 100


def may_see_tasks(request: HttpRequest) -> bool:
    """Return whether ``request`` comes from staff or bears the health token."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    try:
        token = valid_health_token(conf.HEALTH_TOKEN)
    except (TypeError, ValueError):  # autosched.E008 says so; never let a bad one in
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token is None or scheme.lower() != "bearer":
        return False
    # In constant time: how much of the token a guess got right must not show in the timing.
    return hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """Say whether a scheduler is alive: HTTP 200 if one is, 503 if none is."""
    detail = may_see_tasks(request)
    status = read_status(with_tasks=detail)
    body: dict[str, Any] = {"alive": status["alive"], "age": status["age"], "ttl": status["ttl"]}
    if status["error"]:
        body["error"] = status["error"] if detail else "The live status cannot be read."
    beat = status["scheduler"]
    if beat:
        body["scheduler"] = {"role": beat.get("role"), "started_at": beat.get("started_at")}
        if detail:
            body["scheduler"].update(host=beat.get("host"), pid=beat.get("pid"))
            body["scheduler"].update(
                tasks_loaded=beat.get("tasks_loaded"), tasks_enabled=beat.get("tasks_enabled")
            )
    if detail:
        failing = sorted(
            name for name, task in status["tasks"].items() if task_state(task) == "failing"
        )
        body["failing_count"] = len(failing)
        body["failing"] = failing[:FAILING_SHOWN]
    return JsonResponse(body, status=200 if status["alive"] else 503)
