"""`computeperf report`: yesterday's simulated marketplace becomes a Report on perf.reports
and an e-mail with its charts, received by a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from infra.kafka.broker import free_port
from schemas import Report
from streams.topics import ensure_topics
from tests.integration.harness import decode_all, drain, fresh_settings, run_cli

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


def test_daily_report_reaches_the_topic_and_the_smtp_server_with_its_charts(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = fresh_settings(
            kafka_bootstrap,
            tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=controller.port,
            report_recipients="ops@example.org, finance@example.org",
            report_sender="computeperf@example.org",
        )
        asyncio.run(ensure_topics(settings))
        today = time.time_ns() // 1_000_000 // DAY_MS * DAY_MS
        yesterday = datetime.fromtimestamp((today - DAY_MS) / 1000, UTC).isoformat()
        run_cli(
            ["simulate", "--backfill", "--start", yesterday, "--duration-s", "86400",
             "--rate", "0.01", "--providers", "4", "--workloads", "6", "--seed", "3",
             "--quiet"],
            settings,
            tmp_path,
        )  # fmt: skip
        end = datetime.fromtimestamp(today / 1000, UTC).isoformat()
        out = tmp_path / "report.html"
        result = json.loads(
            run_cli(
                ["report", "--period", "day", "--end", end, "--out", str(out), "--json"],
                settings,
                tmp_path,
            )
        )
        reports = decode_all(
            Report, asyncio.run(drain(settings, "perf.reports", until=lambda r: len(r) >= 1))
        )
    finally:
        controller.stop()

    summary = result["summary"]
    assert summary["samples"] > 1000 and summary["workloads"] == 6
    assert summary["spend_usd"] > 0
    assert {"trend", "spend"} <= set(result["charts"])
    assert result["emailed_to"] == ["ops@example.org", "finance@example.org"]

    [report] = reports
    assert report.report_id == result["report_id"]
    assert report.summary == summary
    assert report.period_end_ms - report.period_start_ms == DAY_MS
    assert report.html.count("data:image/png;base64,") == len(result["charts"])
    assert out.read_text() == report.html

    [(rcpts, msg)] = inbox.messages
    assert sorted(rcpts) == ["finance@example.org", "ops@example.org"]
    assert result["report_id"] in msg["Subject"]
    html = msg.get_body(preferencelist=("html",))
    assert html is not None
    content = html.get_content()
    images = {
        p["Content-ID"]: p.get_content() for p in msg.walk() if p.get_content_type() == "image/png"
    }
    assert set(images) == {f"<{name}@computeperf>" for name in result["charts"]}
    for name in result["charts"]:
        assert f"cid:{name}@computeperf" in content
    assert all(png[:4] == b"\x89PNG" for png in images.values())
