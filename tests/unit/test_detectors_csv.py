"""``score_csv_lines``: one score per data line, streamed, with a clear error behaviour."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from models.detectors import EnsembleDetector, parse_timestamp_ms, score_csv_lines
from models.detectors.csv_scoring import score_csv_rows

HEALTHY = [f"{1_700_000_000 + 60 * i},{10 + i * 7 % 5 / 10}" for i in range(40)]


def ensemble() -> EnsembleDetector:
    """The window ensemble: warm after 28 points, so short inputs test the machinery."""
    return EnsembleDetector(seed=0)


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("1700000000", 1_700_000_000_000),
        ("1700000000.5", 1_700_000_000_500),
        ("1700000000000", 1_700_000_000_000),
        (" 1700000000123 ", 1_700_000_000_123),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
        ("2023-11-14T22:13:20.250", 1_700_000_000_250),  # naive: UTC
    ],
)
def test_parse_timestamp_table(text: str, expected_ms: int) -> None:
    assert parse_timestamp_ms(text) == expected_ms


@pytest.mark.parametrize("text", ["", "nan", "inf", "yesterday", "2023-13-01"])
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="cannot parse timestamp"):
        parse_timestamp_ms(text)


def test_one_score_per_data_line_header_optional() -> None:
    with_header = list(
        score_csv_lines(["timestamp,value\n", *HEALTHY, "1700002400,50"], detector=ensemble())
    )
    without = list(score_csv_lines([*HEALTHY, "1700002400,50"], detector=ensemble()))
    assert len(with_header) == len(without) == 41
    assert [math.isnan(s) for s in with_header] == [math.isnan(s) for s in without]
    warm = [s for s in with_header if not math.isnan(s)]
    assert warm and all(0.0 <= s <= 1.0 for s in warm)
    # Warm-up is unknown (NaN), never a healthy-looking 0.
    assert all(math.isnan(s) for s in with_header[:28])
    assert with_header[-2] < 0.5 < 0.9 < with_header[-1]


def test_iso_epoch_seconds_and_ms_give_the_same_scores() -> None:
    def as_text(scores: list[float]) -> list[str]:
        return [f"{s:.12f}" for s in scores]  # NaN == NaN as text

    rows = [line.split(",") for line in HEALTHY]
    epoch_s = as_text(list(score_csv_lines(HEALTHY, detector=ensemble())))
    epoch_ms = as_text(
        list(score_csv_lines([f"{int(t) * 1000},{v}" for t, v in rows], detector=ensemble()))
    )
    iso = as_text(
        list(
            score_csv_lines(
                [f"{datetime.fromtimestamp(int(t), UTC).isoformat()},{v}" for t, v in rows],
                detector=ensemble(),
            )
        )
    )
    assert epoch_s == epoch_ms == iso
    assert "nan" in epoch_s[0] and "nan" not in epoch_s[-1]


def test_blank_lines_yield_nothing() -> None:
    assert len(list(score_csv_lines(["", "0,1", "  ", "60,1", "\n"]))) == 2


def test_streams_without_reading_ahead() -> None:
    consumed = []

    def lines() -> Iterator[str]:
        for i, line in enumerate(HEALTHY):
            consumed.append(i)
            yield line

    scores = score_csv_lines(lines())
    next(scores)
    assert consumed == [0]
    next(scores)
    assert consumed == [0, 1]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("oops,1.0", "line 3: cannot parse timestamp 'oops'"),
        ("1700000200,abc", "line 3: cannot parse value 'abc'"),
        ("1700000200,nan", "line 3: value 'nan' is not finite"),
        ("1700000200", "line 3: expected 2 fields, got 1"),
        ("1700000200,1,2", "line 3: expected 2 fields, got 3"),
    ],
)
def test_bad_line_raises_naming_it_after_earlier_scores(bad: str, message: str) -> None:
    scores = score_csv_lines(
        ["ts,value", "1700000060,1.0", bad, "1700000300,1.0"], detector=ensemble()
    )
    assert math.isnan(next(scores))  # the good line before was scored
    with pytest.raises(ValueError) as info:
        next(scores)
    assert str(info.value) == message


def test_a_second_header_is_an_error() -> None:
    with pytest.raises(ValueError, match="line 2: cannot parse timestamp 'ts'"):
        list(score_csv_lines(["ts,value", "ts,value"]))


def test_detector_can_be_injected() -> None:
    det = EnsembleDetector(seed=1)
    list(score_csv_lines(HEALTHY, detector=det))
    score = det.score_one({"value": 10.2}, 1_700_000_000_000 + 60_000 * 40)
    assert score is not None and score.warm


def sine_lines(n: int, step_s: int = 300) -> list[str]:
    return [
        f"{1_700_000_000 + step_s * i},{50 + 10 * math.sin(2 * math.pi * i / 40)}" for i in range(n)
    ]


def test_repeated_and_backward_timestamps_are_scored_in_input_order() -> None:
    """Real exports (NAB's machine_temperature file) repeat timestamps and step back."""
    lines = sine_lines(600)
    t_prev = lines[299].split(",")[0]
    lines[300] = f"{t_prev},{lines[300].split(',')[1]}"  # repeated
    lines[400] = f"{int(t_prev) - 3300},{lines[400].split(',')[1]}"  # 55 min back
    scores = list(score_csv_lines(["timestamp,value", *lines]))
    assert len(scores) == 600
    # Up to the repeated timestamp, the same scores as with monotonic timestamps.
    monotonic = list(score_csv_lines(["timestamp,value", *sine_lines(600)]))
    assert [f"{s:.12f}" for s in scores[:300]] == [f"{s:.12f}" for s in monotonic[:300]]
    assert all(0.0 <= s < 1.0 for s in scores[200:])


def test_several_value_columns_score_one_row_each_and_name_the_driver() -> None:
    rows = [f"{1_700_000_000 + 60 * i},{10 + i % 4},{100 + 5 * (i % 7)}" for i in range(500)]
    rows.append(f"{1_700_000_000 + 60 * 500},{10 + 500 % 4},900")
    out = list(score_csv_rows(["timestamp,m1,m2", *rows]))
    assert len(out) == 501
    assert out[-1][0] > 0.5 and out[-1][1] == "m2"
    only_m1 = list(score_csv_rows(["timestamp,m1,m2", *rows], columns=["m1"]))
    assert only_m1[-1][0] < 0.5 and only_m1[-1][1] == "m1"


def test_unknown_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="line 1: no column 'm9' in the header"):
        list(score_csv_rows(["timestamp,m1", "0,1"], columns=["m9"]))
