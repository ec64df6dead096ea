"""A delivery worker process for the crash test: `python -m tests.support.delivery_worker_proc`.

Builds the app from the environment (DATABASE_URL, FCM_*/APNS_* settings, secrets), as a
scheduler process would, and loops `deliver_due` until killed, or with --until-empty until no
delivery is pending any more.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from sqlalchemy import func, select

from service import create_app
from service.config import load_settings
from service.delivery.models import PushDelivery
from service.delivery.worker import deliver_due
from service.extensions import db


def pending_count() -> int:
    """Count deliveries still pending (leased or not)."""
    with db.transaction() as session:
        query = select(func.count(PushDelivery.id)).where(PushDelivery.status == "pending")
        return int(session.execute(query).scalar_one())


def main() -> None:
    """Run the worker loop."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--lease-seconds", type=float, default=2.0)
    parser.add_argument("--until-empty", action="store_true")
    parser.add_argument("--deadline-seconds", type=float, default=60.0)
    args = parser.parse_args()
    app = create_app(load_settings())
    lease = dt.timedelta(seconds=args.lease_seconds)
    deadline = time.monotonic() + args.deadline_seconds
    with app.app_context():
        print("worker started", flush=True)
        while time.monotonic() < deadline:
            handled = deliver_due(limit=args.limit, lease=lease)
            print(f"handled {handled}", flush=True)
            if args.until_empty and handled == 0 and pending_count() == 0:
                return
            if handled == 0:
                time.sleep(0.05)
    raise SystemExit("deadline passed with deliveries still pending")


if __name__ == "__main__":
    main()
