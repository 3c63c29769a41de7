"""Issue 17: what a window and a dead letter can hold (pure parts of the fixes)."""

from __future__ import annotations

import json

import pytest

from models.summaries import summarize_window
from models.windows import Outcome, SeriesWindows, TumblingWindows, WindowAccumulator
from schemas import DeadLetter, EntityType
from schemas.dlq import MAX_KEY_BYTES, MAX_MESSAGE_BYTES, MAX_VALUE_BYTES
from streams.topics import spec_for

T0 = 1_700_000_040_000


def test_two_huge_values_in_one_window_do_not_poison_it() -> None:
    windows = TumblingWindows(60_000, 10_000)
    series = SeriesWindows(partition=0)
    first = windows.add(series, ts_ms=T0, seq=0, values={"power_w": 1e308}, watermark_ms=0)
    second = windows.add(series, ts_ms=T0 + 1, seq=1, values={"power_w": 1e308}, watermark_ms=0)
    assert (first, second) == (Outcome.ACCEPTED, Outcome.UNREPRESENTABLE)
    # Refused whole: the cursor did not move, so seq 1 with a sane value is still taken.
    assert series.last_seq == 0
    fine = windows.add(series, ts_ms=T0 + 1, seq=1, values={"power_w": 300.0}, watermark_ms=0)
    assert fine is Outcome.ACCEPTED
    acc = series.windows[T0]
    window = summarize_window(EntityType.PROVIDER, "p", T0, 60_000, acc)
    assert window.count == 2 and window.metrics["power_w"].max == 1e308


@pytest.mark.parametrize(
    ("values", "reason_part"),
    [
        ({"power_w": 1e308, "gpu_temp_c": 70.0}, "power_w"),
        ({"error_count": 10**400}, "not representable"),
        ({"power_w": -1e308}, None),  # the sum goes down, finite
        ({"power_w": None}, None),
    ],
)
def test_unrepresentable_names_the_metric(values: dict, reason_part: str | None) -> None:
    acc = WindowAccumulator()
    acc.add({"power_w": 1e308})
    reason = acc.unrepresentable(values)
    if reason_part is None:
        assert reason is None
    else:
        assert reason is not None and reason_part in reason


def test_a_refused_sample_changes_no_window_metric() -> None:
    acc = WindowAccumulator()
    acc.add({"power_w": 1e308, "gpu_temp_c": 60.0})
    assert acc.unrepresentable({"gpu_temp_c": 61.0, "power_w": 1e308}) is not None
    assert acc.count == 1 and acc.metrics["gpu_temp_c"].count == 1


def biggest_letter(value_size: int, key_size: int = MAX_KEY_BYTES * 4) -> DeadLetter:
    return DeadLetter.wrap(
        source_topic="t0123456789.telemetry.provider",
        partition=2**31 - 1,
        offset=2**63 - 1,
        ts_ms=1_700_000_000_000,
        key=b"\xff" * key_size,
        value=b"\xff" * value_size,
        reason="\u00e9" * 5000,
        error_type="json",
    )


def test_a_dead_letter_of_the_largest_input_fits_the_topic() -> None:
    letter = biggest_letter(2 * MAX_MESSAGE_BYTES)
    encoded = letter.model_dump_json().encode()
    assert len(encoded) < MAX_MESSAGE_BYTES - 16 * 1024  # room for the record envelope
    assert spec_for("perf.dlq").max_message_bytes == MAX_MESSAGE_BYTES
    assert letter.value_bytes == 2 * MAX_MESSAGE_BYTES and letter.key_bytes == MAX_KEY_BYTES * 4
    assert len(letter.value) == MAX_VALUE_BYTES and len(letter.key or b"") == MAX_KEY_BYTES
    assert "truncated" in letter.reason and len(letter.reason) <= 2000
    back = DeadLetter.model_validate_json(encoded)
    assert back.value == letter.value


def test_a_small_dead_letter_is_kept_whole() -> None:
    letter = biggest_letter(100, key_size=10)
    assert letter.value_bytes is None and letter.key_bytes is None
    assert letter.value == b"\xff" * 100 and letter.key == b"\xff" * 10
    assert "truncated" not in json.loads(letter.model_dump_json())["reason"]
