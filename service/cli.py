"""Command-line entry points: `flask --app wsgi <command>`."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from service import bootstrap, migrate
from service.accounts.service import create_user, find_clinic, get_or_create_clinic
from service.config import INSTANCE_DIR, Settings
from service.extensions import db, get_settings
from service.outcomes.cli import outcomes_cli
from service.scheduler import scheduler_command

log = logging.getLogger(__name__)
users_cli = AppGroup("users", help="Manage staff accounts.")
db_cli = AppGroup("db", help="Database migrations.")


@users_cli.command("create")
@click.option("--role", type=click.Choice(["clinician", "admin"]), required=True)
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option(
    "--clinic",
    "clinic_name",
    default="Backstride Clinic",
    show_default=True,
    help="Joins the clinic of this name (any case) when it exists, else creates it.",
)
def create_user_command(role: str, email: str, password: str, clinic_name: str) -> None:
    """Create a clinician or admin."""
    with db.transaction() as session:
        clinic = find_clinic(session, clinic_name)
        joined = clinic is not None
        clinic = clinic or get_or_create_clinic(session, clinic_name.strip())
        bootstrap.ensure_clinic_defaults(session, clinic)
        user = create_user(
            session, get_settings(), email=email, password=password, role=role, clinic=clinic
        )
    how = "joined existing clinic" if joined else "in new clinic"
    click.echo(f"created {role} {user.email} (id {user.id}), {how} {clinic.name!r}")


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


@click.option(
    "--demo/--no-demo",
    default=None,
    help="Seed the demo clinic (published passwords). Default: only in development.",
)
def setup_command(demo: bool | None) -> None:
    """Migrate, install the default rule set for every clinic, seed the demo on first run."""
    settings = get_settings()
    if demo and settings.env == "production":
        raise click.UsageError(
            "--demo creates accounts whose passwords are published in the README; "
            "production never seeds them (use BACKSTRIDE_ENV=development for a demo)"
        )
    seed = bootstrap.seeds_demo(settings, demo)
    migrate.upgrade(settings.database_url)
    bootstrap.run(settings, demo=seed)
    if settings.env == "production":
        with db.transaction() as session:
            if bootstrap.demo_seeded(session):
                click.echo(
                    "warning: this database holds the demo accounts, whose passwords are "
                    "published; delete them or change their passwords",
                    err=True,
                )
    if seed:
        email, password = bootstrap.DEMO_CLINICIAN
        click.echo(
            f"demo clinic: sign in at {settings.public_base_url}/console as {email} / {password}"
        )
    click.echo("setup done" if seed else "setup done (no demo clinic)")


# An AF_UNIX path holds at most 107 bytes on Linux (104 on macOS).
MAX_SOCKET_PATH = 100


def control_socket_path(bind: str, instance_dir: Path = INSTANCE_DIR) -> Path | None:
    """The gunicorn control socket of the instance bound at `bind`: one per bind, in instance/.

    gunicorn's default is one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl), which a second
    instance on the machine unlinks and takes over. None when no short enough path exists.
    """
    name = re.sub(r"[^A-Za-z0-9.]+", "-", bind).strip("-")
    path = instance_dir / f"gunicorn-{name}.ctl"
    if len(str(path)) > MAX_SOCKET_PATH:
        path = instance_dir / f"gunicorn-{hashlib.sha256(bind.encode()).hexdigest()[:12]}.ctl"
    return path if len(str(path)) <= MAX_SOCKET_PATH else None


def gunicorn_argv(settings: Settings, instance_dir: Path = INSTANCE_DIR) -> list[str]:
    """The gunicorn command line `flask serve` runs (tests run the same one)."""
    socket = control_socket_path(settings.bind, instance_dir)
    control = ["--control-socket", str(socket)] if socket else ["--no-control-socket"]
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(settings.web_concurrency),
        "-b",
        settings.bind,
        "--access-logfile",
        "-",
        # Scrubs OAuth codes, states and webhook secrets out of access and error lines.
        "--logger-class",
        "service.logscrub.GunicornLogger",
        *control,
        "wsgi:app",
    ]


def serve_command() -> None:
    """Serve the API with gunicorn at BIND and run the scheduler beside it."""
    settings = get_settings()
    env = dict(os.environ)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"], env=env
    )
    INSTANCE_DIR.mkdir(exist_ok=True)
    web = subprocess.Popen(gunicorn_argv(settings), env=env)

    def _stop(_signum: int, _frame: object) -> None:
        for proc in (web, scheduler):
            proc.terminate()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"serving on {settings.bind} (scheduler pid {scheduler.pid})")
    code = web.wait()
    scheduler.terminate()
    scheduler.wait(timeout=10)
    sys.exit(code)


def register_cli(app: Flask) -> None:
    """Attach the CLI commands to the app."""
    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(outcomes_cli)
    app.cli.command("setup")(setup_command)
    app.cli.command("serve")(serve_command)
    app.cli.command("scheduler")(scheduler_command)
