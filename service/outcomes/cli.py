"""`flask --app wsgi outcomes export|compute` (also `python -m service.outcomes ...`)."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from typing import IO

import click
from flask.cli import AppGroup

from service.accounts.service import find_clinic
from service.db import utcnow
from service.errors import ServiceError
from service.extensions import db
from service.outcomes import proximal, service

outcomes_cli = AppGroup("outcomes", help="Decision records and proximal outcomes (research).")


@outcomes_cli.command("export")
@click.option("--clinic", "clinic_name", default=None, help="Only this clinic (default: all).")
@click.option("--ruleset", default=None, help="Only this rule set (its slug).")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--output", "-o", type=click.File("w"), default="-", help="CSV file (default: -).")
def export_command(
    clinic_name: str | None,
    ruleset: str | None,
    first: dt.datetime | None,
    last: dt.datetime | None,
    output: IO[str],
) -> None:
    """Write the decision records (with outcomes, P and the draw) as CSV."""
    with db.transaction() as session:
        clinic_id = None
        if clinic_name is not None:
            clinic = find_clinic(session, clinic_name)
            if clinic is None:
                raise click.BadParameter(f"no clinic named {clinic_name!r}", param_hint="--clinic")
            clinic_id = clinic.id
        writer = csv.writer(output, lineterminator="\n")
        writer.writerow(service.EXPORT_COLUMNS)
        try:
            rows = service.export_rows(
                session,
                clinic_id=clinic_id,
                ruleset=ruleset,
                first=first.date() if first else None,
                last=last.date() if last else None,
            )
            count = 0
            for row in rows:
                writer.writerow(row)
                count += 1
        except ServiceError as exc:
            raise click.UsageError(str(exc)) from exc
    click.echo(f"exported {count} decision records", err=True)


@outcomes_cli.command("compute")
def compute_command() -> None:
    """Compute the proximal outcomes of every decision whose window has closed, now."""
    done = proximal.run_due(utcnow())
    click.echo(f"computed the outcomes of {done} decisions")


def main() -> None:
    """Run the outcomes commands outside `flask` (`python -m service.outcomes`)."""
    from service import create_app  # noqa: PLC0415 - the app exists only when run as a program

    app = create_app()
    with app.app_context():
        outcomes_cli.main(args=sys.argv[1:], prog_name="python -m service.outcomes")
