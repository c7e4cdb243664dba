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


def test_broadcast_bench_quick_loses_and_duplicates_nothing():
    text = run("broadcast_bench.py", "--quick")
    assert "|" in text  # the markdown table


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
