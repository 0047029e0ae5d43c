"""``runscheduler --metrics-addr``: its errors, and the endpoint's life with the command's."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import urllib.error
import urllib.request
from unittest import mock

import pytest
from django.core.management import CommandError

from tests.commands.test_runscheduler import SelfStoppingRunner, run_command

RUNNER = "autosched.management.commands.runscheduler.SchedulerRunner"


def read(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


@pytest.mark.django_db(transaction=True)
def test_serves_metrics_while_it_runs_and_closes_the_port_at_the_end() -> None:
    scraped: list[bytes] = []

    class ScrapingRunner(SelfStoppingRunner):
        async def _follow_the_lease(self) -> None:
            await super()._follow_the_lease()
            if not scraped and self.scheduler.is_running():
                scraped.append(await asyncio.to_thread(read, url))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/metrics"
    with mock.patch(RUNNER, ScrapingRunner):
        output = run_command("--sync-interval", "0.05", "--metrics-addr", f"127.0.0.1:{port}")

    assert f"Serving Prometheus metrics at {url}." in output
    assert b"autosched_leader 1.0" in scraped[0]
    with pytest.raises(urllib.error.URLError):
        read(url)


@pytest.mark.django_db(transaction=True)
def test_without_prometheus_client_it_says_which_extra_to_install() -> None:
    with mock.patch.dict(sys.modules):
        sys.modules.pop("autosched.runner.metrics", None)
        sys.modules["prometheus_client"] = None  # type: ignore[assignment]
        with pytest.raises(CommandError, match=re.escape('pip install "autosched[prometheus]"')):
            run_command("--metrics-addr", "127.0.0.1:0")


@pytest.mark.django_db(transaction=True)
def test_a_bad_address_is_named() -> None:
    with pytest.raises(CommandError, match="'9100' is not HOST:PORT"):
        run_command("--metrics-addr", "9100")


@pytest.mark.django_db(transaction=True)
def test_an_address_in_use_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(CommandError, match=f"Cannot serve metrics at {address}: "):
            run_command("--metrics-addr", address)


@pytest.mark.django_db(transaction=True)
def test_it_records_through_opentelemetry_when_installed() -> None:
    with (
        mock.patch(RUNNER, SelfStoppingRunner),
        mock.patch("autosched.runner.otel.OpenTelemetryMetrics.for_runner") as record,
    ):
        run_command("--sync-interval", "0.05")

    [(runner,), _] = record.call_args
    assert isinstance(runner, SelfStoppingRunner)


@pytest.mark.django_db(transaction=True)
def test_without_opentelemetry_it_runs_all_the_same() -> None:
    with mock.patch.dict(sys.modules), mock.patch(RUNNER, SelfStoppingRunner):
        sys.modules.pop("autosched.runner.otel", None)
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]
        output = run_command("--sync-interval", "0.05")

    assert output.endswith("Scheduler stopped.\n")
