"""The benchmarks in their short configuration, so CI runs them and their correctness checks
(none lost, none duplicated, every step answered) hold. Their figures are printed, not asserted:
performance is judged from the full runs recorded in README.md, not from a shared CI machine."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import PROJECT_ROOT

pytestmark = pytest.mark.benchmark


def run(script: str, *args: str, timeout: int = 600) -> str:
    env = dict(os.environ)
    out = subprocess.run([sys.executable, str(PROJECT_ROOT / "benchmarks" / script), *args], env=env,
                         capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT)
    print(out.stdout[-4000:])  # the figures, in the CI log
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


def test_broadcast_bench_quick_loses_nothing_across_a_kill9_of_run_bot():
    """The sender is ``python run_bot.py``, SIGKILLed mid-broadcast, restarted, stopped with SIGTERM. The
    benchmark's own checks decide its exit status: nothing lost, a duplicate only of a row the kill left
    in 'sending' and the restarted program took over as ambiguous, 403s dropped, the progress message
    final, exit 0 on SIGTERM with nothing left in 'sending'."""
    pg = os.environ.get("TEST_POSTGRES_URL")
    args = ["--quick", "--db", "both" if pg else "sqlite", *(["--pg-url", pg] if pg else [])]
    text = run("broadcast_bench.py", *args, timeout=900)
    assert "sender: run_bot.py" in text and "# all checks passed" in text
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith(("| sqlite", "| postgres"))]
    assert [c[0].strip() for c in rows] == (["sqlite", "postgres"] if pg else ["sqlite"])
    for c in rows:
        kills, dropped, lost, duplicates, ambiguous = (int(c[i]) for i in (2, 7, 8, 9, 10))
        assert kills == 1 and lost == 0 and dropped == 6, c
        assert duplicates <= ambiguous, c  # a duplicate needs a row the kill left ambiguous


def test_dialog_bench_quick_answers_every_step():
    args = ["--quick", "--db", "both" if os.environ.get("TEST_POSTGRES_URL") else "sqlite", "--emulator", "inproc,split"]
    if os.environ.get("TEST_POSTGRES_URL"):
        args += ["--pg-url", os.environ["TEST_POSTGRES_URL"]]
    text = run("dialog_bench.py", *args)
    assert "steps/s" in text


def test_search_quality_and_latency_quick():
    text = run("search_quality.py", timeout=900)
    assert "keyphrase nDCG@10" in text and "0.38)" in text   # both topical sets were scored
    run("search_bench.py", "--quick", timeout=900)


def test_replica_bench_quick_runs_nginx_in_front_of_workers_on_postgres():
    """nginx (deploy/'s template) in front of 1, 2 and 3 ``run_bot.py`` webhook workers on one PostgreSQL:
    every dialog step answered, a broadcast with its sender killed loses nothing and stays within
    Telegram's limits, an import reaches every worker's search, simultaneous starts are clean."""
    pg = os.environ.get("TEST_POSTGRES_URL")
    if not pg:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set")
        pytest.skip("several workers share one PostgreSQL: TEST_POSTGRES_URL not set")
    from devtools.nginx import nginx_binary

    if nginx_binary() is None:
        pytest.skip("nginx is not installed") if os.environ.get("REQUIRE_POSTGRES") != "1" else \
            pytest.fail("nginx is not installed (.ci/run installs nginx-light)")
    text = run("replica_bench.py", "--quick", "--pg-url", pg, timeout=1500)
    assert "steps/s" in text and "index freshness" in text and "# all checks passed" in text
