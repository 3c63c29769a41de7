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

HEALTHY = [f"{1_700_000_000 + 60 * i},{10 + i * 7 % 5 / 10}" for i in range(40)]
SPIKE = "1700002400,50"

# `computeperf detect` exactly as cli.main.main() would run it once registered.
THROUGH_FAUST_CLI = """
import sys
from faust.cli.faust import cli
from streams.app import create_app
from cli.detect import detect
from config.settings import Settings
cli.add_command(detect)
sys.argv = ["computeperf", "detect"]
create_app(Settings()).main()
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
        assert scores[-2] < 0.5 and scores[-1] > 0.9


def test_warmup_value_option() -> None:
    _, out, _ = invoke("\n".join(HEALTHY) + "\n", "--warmup-value", "nan")
    assert out[0] == "nan" and not math.isnan(float(out[-1]))
    _, out, _ = invoke("\n".join(HEALTHY[:3]) + "\n", "--warmup-value", "0")
    assert out == ["0.000000"] * 3


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
        ("1700000060,1.0", "line 4: timestamp is not after the previous line's"),
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


def test_help_documents_warmup_and_errors() -> None:
    result = CliRunner().invoke(detect, ["--help"])
    assert "--warmup-value" in result.stdout and "exit status 2" in result.stdout


def test_streams_each_score_before_the_next_line_is_sent(tmp_path: Path) -> None:
    """Through Faust's CLI as `computeperf detect`: a line in, its score out, and only then
    the next line; a scorer that waited for more input would time out here."""
    proc = subprocess.Popen(
        [sys.executable, "-c", THROUGH_FAUST_CLI],
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
        for i, line in enumerate([*HEALTHY[:30], SPIKE]):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            # First line waits for interpreter start-up and imports.
            assert sel.select(timeout=30 if i == 0 else 5), f"no score for line {i}"
            scores.append(float(proc.stdout.readline()))
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
        assert len(scores) == 31 and scores[-1] > 0.9
        assert proc.stdout.read() == ""  # nothing printed for the end of input
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
