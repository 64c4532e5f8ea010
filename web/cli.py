"""Flask CLI commands: database migrations, syncs, and the scoring groups."""
from __future__ import annotations

import json
from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask
from flask.cli import AppGroup

from web.extensions import runtime

ROOT = Path(__file__).resolve().parent.parent
db_cli = AppGroup("db", help="Database schema.")
sync_cli = AppGroup("sync", help="Run syncs.")
audit_cli = AppGroup("audit", help="The audit trail.")


def alembic_config(database_url: str) -> AlembicConfig:
    """The Alembic configuration for a database URL."""
    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_database(database_url: str) -> None:
    """Bring the schema to the latest migration."""
    command.upgrade(alembic_config(database_url), "head")


@db_cli.command("upgrade")
def db_upgrade():
    """Apply every migration."""
    upgrade_database(runtime().config.DATABASE_URL)
    click.echo("database is at the latest schema")


@sync_cli.command("run")
@click.argument("connection_id", type=int)
@click.option("--full", is_flag=True, help="Re-read everything instead of resuming from the cursor.")
@click.option("--queue/--inline", default=False, help="Enqueue for a worker instead of running here.")
def sync_run(connection_id: int, full: bool, queue: bool):
    """Sync one connection."""
    from sync import jobs

    kind = "full" if full else "incremental"
    if queue:
        job = runtime().queues["sync"].enqueue(jobs.sync_connection, connection_id, kind)
        click.echo(f"enqueued {job.id}")
    else:
        click.echo(json.dumps(jobs.sync_connection(connection_id, kind, then_score=False)))


@audit_cli.command("verify")
def audit_verify():
    """Check every entry's hash and link; exit 1 naming the first bad entry."""
    from sync.audit import verify

    with runtime().sessions() as session:
        ok, first_bad = verify(session)
    if not ok:
        click.echo(f"audit trail broken at entry {first_bad}: it does not match its hash or its link "
                   "to the entry before. Entries from there on cannot be trusted.", err=True)
        raise SystemExit(1)
    click.echo("audit trail intact")


def init_app(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(db_cli)
    app.cli.add_command(sync_cli)
    app.cli.add_command(audit_cli)
    from scoring.cli import model as model_cli
    from scoring.forecast_cli import forecast_group as forecast_cli
    app.cli.add_command(model_cli)
    app.cli.add_command(forecast_cli)
