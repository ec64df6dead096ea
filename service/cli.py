"""Command-line entry points: `flask --app wsgi <command>`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from service import bootstrap, migrate
from service.accounts.service import create_user, get_or_create_clinic
from service.extensions import db, get_settings
from service.scheduler import scheduler_command

log = logging.getLogger(__name__)
users_cli = AppGroup("users", help="Manage staff accounts.")
db_cli = AppGroup("db", help="Database migrations.")


@users_cli.command("create")
@click.option("--role", type=click.Choice(["clinician", "admin"]), required=True)
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--clinic", "clinic_name", default="Backstride Clinic", show_default=True)
def create_user_command(role: str, email: str, password: str, clinic_name: str) -> None:
    """Create a clinician or admin."""
    with db.transaction() as session:
        clinic = get_or_create_clinic(session, clinic_name)
        bootstrap.ensure_clinic_defaults(session, clinic)
        user = create_user(
            session, get_settings(), email=email, password=password, role=role, clinic=clinic
        )
    click.echo(f"created {role} {user.email} (id {user.id}) in clinic {clinic_name!r}")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the latest schema."""
    migrate.upgrade(get_settings().database_url)
    click.echo("database at head")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models."""
    migrate.revision(get_settings().database_url, message)


def setup_command() -> None:
    """Migrate, install the default rule set for every clinic, seed the demo on first run."""
    migrate.upgrade(get_settings().database_url)
    bootstrap.run(get_settings())
    click.echo("setup done")


def serve_command() -> None:
    """Serve the API with gunicorn on 127.0.0.1:8000 and run the scheduler beside it."""
    env = dict(os.environ)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"], env=env
    )
    bind = env.get("BIND", "127.0.0.1:8000")
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            env.get("WEB_CONCURRENCY", "2"),
            "-b",
            bind,
            "--access-logfile",
            "-",
            "wsgi:app",
        ],
        env=env,
    )

    def _stop(_signum: int, _frame: object) -> None:
        for proc in (web, scheduler):
            proc.terminate()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"serving on http://{bind} (scheduler pid {scheduler.pid})")
    code = web.wait()
    scheduler.terminate()
    scheduler.wait(timeout=10)
    sys.exit(code)


def register_cli(app: Flask) -> None:
    """Attach the CLI commands to the app."""
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
    app.cli.command("setup")(setup_command)
    app.cli.command("serve")(serve_command)
    app.cli.command("scheduler")(scheduler_command)
