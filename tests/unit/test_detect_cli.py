"""``computeperf detect``: one score in [0, 1] per data line, streamed, clear input errors."""

from __future__ import annotations

import math
import selectors
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.detect import detect

HEALTHY = [f"{1_700_000_000 + 60 * i},{10 + i * 7 % 5 / 10}" for i in range(200)]
SPIKE = "1700012000,50"

# `computeperf detect` exactly as the console script runs it.
THROUGH_ENTRY_POINT = """
import sys
from cli.main import main
sys.argv = ["computeperf", "detect"]
main()
"""


def invoke(stdin: str, *args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(detect, list(args), input=stdin)
    return result.exit_code, result.stdout.splitlines(), result.stderr


def test_one_score_in_unit_interval_per_data_line_header_optional() -> None:
    for lines in (["timestamp,value", *HEALTHY, SPIKE], [*HEALTHY, "", SPIKE]):
        code, out, _ = invoke("\n".join(lines) + "\n")
        assert code == 0 and len(out) == len(HEALTHY) + 1
        scores = [float(s) for s in out]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores[0] == 0.5  # warm-up: unknown, not healthy
        assert scores[-2] < 0.5 < scores[-1]


def test_warmup_value_option() -> None:
    _, out, _ = invoke("\n".join(HEALTHY) + "\n", "--warmup-value", "nan")
    assert out[0] == "nan" and not math.isnan(float(out[-1]))
    _, out, _ = invoke("\n".join(HEALTHY[:3]) + "\n", "--warmup-value", "0")
    assert out == ["0.000000000000"] * 3


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "x", "inf"])
def test_warmup_value_must_be_in_unit_interval_or_nan(bad: str) -> None:
    code, _, err = invoke("", "--warmup-value", bad)
    assert code == 2 and "--warmup-value" in err


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("oops,1.0", "line 4: cannot parse timestamp 'oops'"),
        ("1700000180,abc", "line 4: cannot parse value 'abc'"),
        ("1700000180,nan", "line 4: value 'nan' is not finite"),
        ("1700000180,1,2", "line 4: expected 2 fields, got 3"),
    ],
)
def test_malformed_line_exits_2_with_line_number(bad_line: str, message: str) -> None:
    stdin = "\n".join(["timestamp,value", *HEALTHY[:2], bad_line, HEALTHY[5]]) + "\n"
    code, out, err = invoke(stdin)
    assert code == 2
    assert message in err
    assert len(out) == 2  # the lines before the bad one were scored


def test_empty_input_prints_nothing() -> None:
    assert invoke("") == (0, [], "")
    assert invoke("timestamp,value\n")[:2] == (0, [])


def test_help_documents_warmup_errors_and_time_policy() -> None:
    result = CliRunner().invoke(detect, ["--help"])
    assert "--warmup-value" in result.stdout and "exit status 2" in result.stdout
    assert "repeated timestamp" in result.stdout and "step back" in result.stdout


def test_repeated_and_backward_timestamps_are_scored_not_refused() -> None:
    lines = [*HEALTHY[:100], HEALTHY[99], "1700000000,10.1", *HEALTHY[100:]]
    code, out, err = invoke("\n".join(["timestamp,value", *lines]) + "\n")
    assert (code, err) == (0, "")
    assert len(out) == len(lines)


def test_columns_and_explain() -> None:
    rows = [f"{1_700_000_000 + 60 * i},{10 + i % 4},{100 + 5 * (i % 7)}" for i in range(300)]
    stdin = "\n".join(["timestamp,m1,m2", *rows, "1700018000,10,900"]) + "\n"
    code, out, _ = invoke(stdin, "--explain")
    assert code == 0 and len(out) == 301
    score, column = out[-1].split(",")
    assert float(score) > 0.5 and column == "m2"
    code, out, _ = invoke(stdin, "--columns", "m1", "--explain")
    assert code == 0 and out[-1].endswith(",m1") and float(out[-1].split(",")[0]) < 0.5


def test_streams_each_score_before_the_next_line_is_sent(tmp_path: Path) -> None:
    """Through the console script as `computeperf detect`: a line in, its score out, then
    the next line; a scorer that waited for more input would time out here."""
    proc = subprocess.Popen(
        [sys.executable, "-c", THROUGH_ENTRY_POINT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        proc.stdin.write("timestamp,value\n")
        scores = []
        for i, line in enumerate([*HEALTHY, SPIKE]):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            # First line waits for interpreter start-up and imports.
            assert sel.select(timeout=30 if i == 0 else 5), f"no score for line {i}"
            scores.append(float(proc.stdout.readline()))
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
        assert len(scores) == len(HEALTHY) + 1 and scores[-1] > 0.5
        assert proc.stdout.read() == ""  # nothing printed for the end of input
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
