"""`python -m service.outcomes export|compute`: the research commands without `flask`."""

from __future__ import annotations

from service.outcomes.cli import main

if __name__ == "__main__":
    main()
