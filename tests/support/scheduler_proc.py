"""A scheduler process for the two-process claim test: `python -m tests.support.scheduler_proc`.

Builds the app from the environment (DATABASE_URL, secrets) as `flask scheduler` would, says
"ready", waits until the go file exists (so both processes start together), runs
`evaluate_due` once in small batches and prints its result as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

from service import create_app
from service.config import load_settings
from service.evaluation.population import evaluate_due


def main() -> None:
    """Wait for the go file, evaluate everything due at --now, print the result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--now", required=True)
    parser.add_argument("--go", required=True)
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args()
    app = create_app(load_settings())
    with app.app_context():
        print("ready", flush=True)
        go = Path(args.go)
        deadline = time.monotonic() + 60
        while not go.exists():
            if time.monotonic() > deadline:
                raise SystemExit("no go file")
            time.sleep(0.005)
        result = evaluate_due(dt.datetime.fromisoformat(args.now), batch_size=args.batch)
    print(json.dumps(dataclasses.asdict(result)), flush=True)


if __name__ == "__main__":
    main()
