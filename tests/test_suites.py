"""`make test`'s runs: which tests go to which backend."""

from __future__ import annotations

from tests.suites import planned


def _markers(argv: list[str]) -> str | None:
    """The `-m` expression given to pytest (after `python -m pytest`), if any."""
    assert argv[1:3] == ["-m", "pytest"]
    options = argv[3:]
    return options[options.index("-m") + 1] if "-m" in options else None


def test_without_postgresql_one_run_takes_every_test() -> None:
    (sqlite,) = planned(["-x"], {})
    assert sqlite.name == "sqlite"
    assert _markers(sqlite.argv) is None
    assert sqlite.argv[-1] == "-x"
    assert sqlite.env["BACKSTRIDE_TEST_BACKEND"] == "sqlite"


def test_with_postgresql_the_tests_with_their_own_server_go_to_its_run() -> None:
    sqlite, postgresql = planned([], {"TEST_DATABASE_URL": "postgresql://127.0.0.1/test"})
    assert _markers(sqlite.argv) == "not pgserver"
    assert _markers(postgresql.argv) == "db or pgserver"
    assert postgresql.env["BACKSTRIDE_TEST_BACKEND"] == "postgresql"
