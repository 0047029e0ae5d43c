"""Log every write to autosched_periodictask through database triggers.

Each trigger first increments the single ScheduleRevision row (id 1), then logs the new
revision with the task id. Incrementing takes that row's lock and holds it until the writing
transaction commits, so a second writer waits and gets the next number only after the first
committed: revision order is commit order. A reader that has seen revision N can therefore
never later see a committed change numbered below N, and "changes above N" is a complete
answer. (SQLite serialises writers with its database lock, giving the same guarantee.) A
rolled-back write rolls back its number too, so committed revisions have no gaps; a gap seen
by a reader means old changes were pruned.
"""

import django.db.models.functions.datetime
from django.db import migrations, models

EVENTS = {"ai": ("INSERT", "NEW"), "au": ("UPDATE", "NEW"), "ad": ("DELETE", "OLD")}

# The counter is bumped by an upsert rather than a plain UPDATE, and a missing counter row
# starts above the highest logged change: a test-database flush deletes these tables' rows in
# any order, and logging must resume without reusing a revision. The locking is the same.
START = "COALESCE((SELECT MAX(revision) FROM autosched_taskchange), 0) + 1"
SQLITE_BUMP = f"""INSERT INTO autosched_schedulerevision (id, revision) VALUES (1, {START})
        ON CONFLICT (id) DO UPDATE SET revision = revision + 1"""
MYSQL_BUMP = f"""INSERT INTO autosched_schedulerevision (id, revision) VALUES (1, {START})
        ON DUPLICATE KEY UPDATE revision = revision + 1"""

# SQLite and MySQL: one trigger per event, the same two statements in each.
ROW_TRIGGER = """
CREATE TRIGGER autosched_periodictask_{suffix} AFTER {event} ON autosched_periodictask
FOR EACH ROW BEGIN
    {bump};
    INSERT INTO autosched_taskchange (revision, task_id)
        SELECT revision, {row}.id FROM autosched_schedulerevision WHERE id = 1;
END
"""

POSTGRESQL_FORWARD = f"""
CREATE FUNCTION autosched_log_task_change() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    rev bigint;
BEGIN
    INSERT INTO autosched_schedulerevision AS counter (id, revision) VALUES (1, {START})
        ON CONFLICT (id) DO UPDATE SET revision = counter.revision + 1
        RETURNING counter.revision INTO rev;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO autosched_taskchange (revision, task_id) VALUES (rev, OLD.id);
    ELSE
        INSERT INTO autosched_taskchange (revision, task_id) VALUES (rev, NEW.id);
    END IF;
    RETURN NULL;
END
$body$;
CREATE TRIGGER autosched_periodictask_change
    AFTER INSERT OR UPDATE OR DELETE ON autosched_periodictask
    FOR EACH ROW EXECUTE FUNCTION autosched_log_task_change();
"""

POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS autosched_periodictask_change ON autosched_periodictask;
DROP FUNCTION IF EXISTS autosched_log_task_change();
"""


def create_triggers(apps, schema_editor):
    apps.get_model("autosched", "ScheduleRevision").objects.using(
        schema_editor.connection.alias
    ).update_or_create(id=1, defaults={"revision": 0})
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD)
    elif vendor in ("sqlite", "mysql"):
        bump = SQLITE_BUMP if vendor == "sqlite" else MYSQL_BUMP
        for suffix, (event, row) in EVENTS.items():
            sql = ROW_TRIGGER.format(suffix=suffix, event=event, row=row, bump=bump)
            schema_editor.execute(sql)
    # Other backends get no triggers; autosched.sync then reloads every row on each sync.


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REVERSE)
    elif vendor in ("sqlite", "mysql"):
        for suffix in EVENTS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS autosched_periodictask_{suffix}")


class Migration(migrations.Migration):
    dependencies = [("autosched", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="ScheduleRevision",
            fields=[
                ("id", models.SmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("revision", models.BigIntegerField(default=0)),
            ],
            options={"db_table": "autosched_schedulerevision"},
        ),
        migrations.CreateModel(
            name="TaskChange",
            fields=[
                ("revision", models.BigIntegerField(primary_key=True, serialize=False)),
                ("task_id", models.BigIntegerField()),
                (
                    "changed_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), db_index=True
                    ),
                ),
            ],
            options={"db_table": "autosched_taskchange"},
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
