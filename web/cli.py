"""Flask CLI commands: database migrations, syncs, connection checks, and the scoring groups."""
from __future__ import annotations

import json
from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask
from flask.cli import AppGroup

from web.extensions import runtime
from web.template_filters import crm_name

ROOT = Path(__file__).resolve().parent.parent
db_cli = AppGroup("db", help="Database schema.")
sync_cli = AppGroup("sync", help="Run syncs.")
audit_cli = AppGroup("audit", help="The audit trail.")
connections_cli = AppGroup("connections", help="Connections to the CRMs.")


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
        from sync.job_chain import SYNC

        job = SYNC.enqueue(runtime().queues, connection_id, kind)
        click.echo(f"enqueued {job.id}")
    else:
        click.echo(json.dumps(jobs.sync_connection(connection_id, kind, then_score=False)))


@audit_cli.command("verify")
def audit_verify():
    """Check every entry's hash and link; exit 1 naming the first bad entry."""
    from sync.store.audit_log import verify

    with runtime().sessions() as session:
        ok, first_bad = verify(session)
    if not ok:
        click.echo(f"audit trail broken at entry {first_bad}: it does not match its hash or its link "
                   "to the entry before. Entries from there on cannot be trusted.", err=True)
        raise SystemExit(1)
    click.echo("audit trail intact")


@connections_cli.command("check")
@click.option("--connection", "connection_id", type=int, help="Check this connection only (default: all).")
def connections_check(connection_id: int | None):
    """Check each connection against its live CRM; exit 1 when something must be fixed there."""
    from sqlalchemy import select

    from sync.preflight import run_preflight
    from sync.store import Connection

    rt = runtime()
    with rt.sessions() as session:
        query = select(Connection.id).where(Connection.status != "disconnected").order_by(Connection.id)
        ids = [connection_id] if connection_id else list(session.scalars(query))
    if not ids:
        click.echo("No connection to check: connect a CRM in the Pipewise console first.")
        return
    failed = False
    for one in ids:
        try:
            report = run_preflight(rt, one)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        failed = failed or bool(report.errors)
        click.echo(f"{crm_name(report.provider)} connection {one}: {report.summary()}")
        for finding in report.findings:
            click.echo(f"  {finding.status:<7} {finding.check}: {finding.message}")
    if failed:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(db_cli)
    app.cli.add_command(sync_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(connections_cli)
    from scoring.cli import model as model_cli
    from scoring.forecast.cli import forecast_group as forecast_cli
    app.cli.add_command(model_cli)
    app.cli.add_command(forecast_cli)
