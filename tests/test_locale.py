"""The translations: a complete Spanish catalog, compiled, and a Spanish admin without English.

No gettext tool is needed: the catalog is read here, the strings marked in the source are
found with an AST walk and a look at the templates, and the compiled ``.mo`` (committed, so
that the package works without gettext) is checked against the ``.po``.
"""

from __future__ import annotations

import ast
import asyncio
import gettext
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import translation

from autosched.admin.cells import FIELDS
from autosched.humanize import schedule_words, short_span
from autosched.models import PeriodicTask
from autosched.runner.identity import Identity
from autosched.runner.publisher import StatusPublisher
from autosched.scheduler import Scheduler

PACKAGE = Path(__file__).resolve().parent.parent / "autosched"
CATALOG = PACKAGE / "locale" / "es" / "LC_MESSAGES"
HEARTBEAT = "tests.testapp.tasks.heartbeat"
CHANGELIST = reverse("admin:autosched_periodictask_changelist")


# The catalog -----------------------------------------------------------------------------


def read_po(path: Path) -> list[dict[str, Any]]:
    """Return the entries of a ``.po`` file: msgctxt, msgid, msgid_plural, msgstr(s), flags."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict[str, Any] = {"flags": "", "msgstr": {}}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += line
            elif match := re.match(
                r'^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d)\])? (".*")$', line
            ):
                key = (match.group(1), match.group(2))
                value = ast.literal_eval(match.group(3))
                if key[0] == "msgstr":
                    entry["msgstr"][int(key[1] or 0)] = value
                else:
                    entry[key[0]] = value
            elif line.startswith('"') and key is not None:
                value = ast.literal_eval(line)
                if key[0] == "msgstr":
                    entry["msgstr"][int(key[1] or 0)] += value
                else:
                    entry[key[0]] += value
        if entry.get("msgid"):
            entries.append(entry)
    return entries


ENTRIES = read_po(CATALOG / "django.po")


def test_the_spanish_catalog_is_complete() -> None:
    assert len(ENTRIES) > 200
    for entry in ENTRIES:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        forms = 3 if "msgid_plural" in entry else 1
        assert len(entry["msgstr"]) == forms, entry["msgid"]
        assert all(entry["msgstr"].values()), f"untranslated: {entry['msgid']!r}"


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdrf]", text))


def test_each_translation_keeps_the_placeholders() -> None:
    for entry in ENTRIES:
        for form in entry["msgstr"].values():
            assert placeholders(form) == placeholders(entry["msgid"]), entry["msgid"]


def test_the_compiled_catalog_is_the_po_file() -> None:
    # The .mo is committed (pip installs need no gettext); it must say what the .po says.
    with (CATALOG / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for entry in ENTRIES:
        context = entry.get("msgctxt")
        if "msgid_plural" in entry:
            for count, form in ((1, 0), (2, 2)):
                said = compiled.ngettext(entry["msgid"], entry["msgid_plural"], count)
                assert said == entry["msgstr"][form], entry["msgid"]
        elif context:
            assert compiled.pgettext(context, entry["msgid"]) == entry["msgstr"][0]
        else:
            assert compiled.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]


TRANSLATORS = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext"}


def marked_in_python() -> Iterator[tuple[str | None, str]]:
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in TRANSLATORS or not node.args:
                continue
            args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if node.func.id == "pgettext":
                yield args[0], args[1]
            elif args and isinstance(args[0], str):
                yield None, args[0]


def marked_in_templates() -> Iterator[tuple[str | None, str]]:
    for path in (PACKAGE / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"""{% translate (["'])(.*?)\1""", text):
            yield None, match.group(2)
        for match in re.finditer(
            r"{% blocktranslate[^%]*%}(.*?){% endblocktranslate %}", text, re.S
        ):
            yield None, re.sub(r"{{ (\w+) }}", r"%(\1)s", match.group(1))


def test_every_marked_string_is_in_the_catalog() -> None:
    known = {(entry.get("msgctxt"), entry["msgid"]) for entry in ENTRIES}
    marked = {*marked_in_python(), *marked_in_templates()}
    assert len(marked) > 200
    assert sorted(marked - known, key=str) == []


# Spanish, everywhere ------------------------------------------------------------------------


def test_spans_and_schedules_in_spanish() -> None:
    with translation.override("es"):
        assert schedule_words(86400, 10800) == "cada día a las 03:00 (UTC)"
        assert schedule_words(90, 0, spread=True) == "cada 1 minuto 30 segundos"
        assert short_span(3725) == "1 h 2 min"


class Text(HTMLParser):
    """Collect what a reader sees or hears: text, titles, labels; JSON handed to the script."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "style" or (tag == "script" and found.get("type") != "application/json"):
            self._skip += 1
        for name in ("title", "aria-label", "placeholder", "alt"):
            if found.get(name):
                self.parts.append(str(found[name]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_fragments() -> set[str]:
    """Return the words of autosched's English strings that its Spanish never uses."""
    spanish = " ".join(form for entry in ENTRIES for form in entry["msgstr"].values())
    fragments = set()
    for entry in ENTRIES:
        for text in (entry["msgid"], entry.get("msgid_plural", "")):
            for part in re.split(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdrf]|%%", text):
                part = " ".join(part.split()).strip(" .,;:()")
                if re.search(r"[A-Za-z]{3,}", part) and part not in spanish:
                    fragments.add(part)
    return fragments


def english_left(text: str) -> list[str]:
    # A fragment counts only as a whole word run: "ok" must not match inside "bookkeeping".
    return sorted(
        fragment
        for fragment in english_fragments()
        if re.search(rf"(?<![\w.]){re.escape(fragment)}(?![\w.])", text)
    )


def fail() -> None:
    raise RuntimeError("boom")


def job() -> None:
    """Do nothing."""


@pytest.fixture
def spanish(settings: Any) -> Iterator[None]:
    settings.LANGUAGE_CODE = "es"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rows() -> dict[str, PeriodicTask]:
    """Tasks in every state the list can show, and the scheduler's report of them."""
    PeriodicTask.objects.all().delete()
    made = {
        name: PeriodicTask.objects.create(name=name, function=HEARTBEAT, interval_seconds=interval)
        for name, interval in [
            ("alfa", 60),
            ("beta", 86400),
            ("gamma", 3600),
            ("delta", 600),
            ("epsilon", 7),
            ("zeta", 90),
        ]
    }
    made["eta"] = PeriodicTask.objects.create(
        name="eta", function="gone.module.func", interval_seconds=45
    )
    made["theta"] = PeriodicTask.objects.create(
        name="theta", function=HEARTBEAT, interval_seconds=30, enabled=False
    )
    made["iota"] = PeriodicTask.objects.create(
        name="iota", function=HEARTBEAT, interval_seconds=120, run_on="worker", queue_name="q"
    )
    return made


def report(rows: dict[str, PeriodicTask]) -> StatusPublisher:
    scheduler = Scheduler()
    for task in rows.values():
        if task.is_registered:
            scheduler.add_task(
                task.name,
                fail if task.name in ("alfa", "zeta") else job,
                task.interval_seconds,
                enabled=task.enabled,
                offset=task.effective_offset,
                timeout=2 if task.name == "zeta" else None,
            )
    publisher = StatusPublisher(scheduler, identity=Identity(host="web-1", pid=42, token="t"))
    scheduler.add_listener(publisher._on_run)
    for name in ("alfa", "gamma", "zeta"):
        asyncio.run(scheduler.run_task(scheduler.tasks[name]))
    scheduler.tasks["delta"].running = True
    scheduler.tasks["zeta"].running = scheduler.tasks["zeta"].overrun = True
    return publisher


def worker_report(publisher: StatusPublisher) -> None:
    """Add what a worker reports for a worker row, as the worker-report merge will."""
    statuses = publisher.tasks_status
    worker = {
        "run_on": "worker",
        "last_outcome": "error",
        "last_error": "ValueError: bad",
        "last_run": "2026-12-01T09:59:57+00:00",
        "last_duration": 0.01,
        "worker_host": "w2",
        "worker_pid": 9,
        "last_enqueued": "2026-12-01T09:59:59+00:00",
        "enqueue_outcome": "error",
        "enqueue_error": "ConnectionError: down",
    }

    def with_worker() -> dict[str, dict[str, Any]]:
        tasks = statuses()
        tasks["iota"].update(worker)
        return tasks

    publisher.tasks_status = with_worker  # type: ignore[method-assign]


def assert_spanish(content: str) -> None:
    text = visible_text(content)
    assert english_left(text) == [], text
    assert "Planificador" in text or "planificador" in text


@pytest.mark.django_db
def test_the_spanish_changelist_has_no_english_autosched_text(
    admin_client: Client, spanish: None, rows: dict[str, PeriodicTask]
) -> None:
    publisher = report(rows)
    worker_report(publisher)
    publisher.role = lambda: "standby"
    publisher.publish()  # a standby, listed in the banner
    publisher.role = lambda: "active"
    StatusPublisher(
        Scheduler(), identity=Identity(host="web-2", pid=7, token="s"), role=lambda: "standby"
    ).publish()
    publisher.publish()
    content = admin_client.get(CHANGELIST).content.decode()
    assert "Planificador en marcha: 1 activo en web-1 (pid 42)" in content
    assert "1 en espera en web-2 (pid 7)" in content
    for state in ("fallida", "en ejecución desde hace", "nunca", "desactivada", "no registrada"):
        assert state in content
    assert_spanish(content)
    ids = ",".join(str(task.pk) for task in rows.values())
    data = admin_client.get(reverse("admin:autosched_periodictask_status"), {"ids": ids}).json()
    cells = [cells[field] for cells in data["tasks"].values() for field in FIELDS]
    assert_spanish(data["banner"] + " " + visible_text(" ".join(cells)))


@pytest.mark.django_db
def test_the_spanish_changelist_when_the_scheduler_is_gone(
    admin_client: Client, spanish: None, rows: dict[str, PeriodicTask]
) -> None:
    publisher = report(rows)
    publisher.start()
    publisher.stop()  # the last known status stays
    content = admin_client.get(CHANGELIST).content.decode()
    assert "Se muestra el último estado conocido, a fecha de" in content
    assert "prevista en" in content
    assert_spanish(content)
    assert_spanish(admin_client.get(CHANGELIST, {"outcome": "failing"}).content.decode())


@pytest.mark.django_db
def test_the_spanish_task_page_has_no_english_autosched_text(
    admin_client: Client, spanish: None, rows: dict[str, PeriodicTask]
) -> None:
    report(rows).publish()
    url = reverse("admin:autosched_periodictask_change", args=[rows["alfa"].pk])
    content = admin_client.get(url).content.decode()
    for words in (
        "Estado en vivo",
        "Último error",
        "Ejecuciones recientes",
        "Historial de cambios",
    ):
        assert words in content
    # The traceback is the task's own text, not autosched's.
    assert_spanish(re.sub(r'<pre class="autosched-traceback">.*?</pre>', "", content, flags=re.S))


@pytest.mark.django_db
def test_a_bad_interval_is_refused_in_spanish(admin_client: Client, spanish: None) -> None:
    response = admin_client.post(
        reverse("admin:autosched_periodictask_add"),
        {"name": "n", "function": HEARTBEAT, "interval_seconds": "pronto", "enabled": "on"},
    )
    errors = response.context["adminform"].form.errors["interval_seconds"]
    assert errors == [
        'Introduzca un lapso de tiempo, por ejemplo "90", "90s", "15m", "1h 30m" o "2d".'
    ]
