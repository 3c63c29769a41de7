"""Deliver a report by e-mail: an HTML message with its charts as inline image parts.

>>> from email import message_from_bytes
>>> msg = build_email("Daily report", "<p>hi <img src='cid:trend@computeperf'></p>",
...                   {"trend": b"\\x89PNG..."}, "cp@example.org", ["ops@example.org"])
>>> msg["To"], msg.get_content_type()
('ops@example.org', 'multipart/alternative')
>>> [p.get_content_type() for p in msg.walk()]
['multipart/alternative', 'text/plain', 'multipart/related', 'text/html', 'image/png']
>>> [p["Content-ID"] for p in msg.walk() if p.get_content_type() == "image/png"]
['<trend@computeperf>']
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

__all__ = ["build_email", "send_email"]


def build_email(
    subject: str,
    html: str,
    charts: dict[str, bytes],
    sender: str,
    recipients: Sequence[str],
    domain: str = "computeperf",
) -> EmailMessage:
    """A text + HTML message; ``charts`` become parts with ``Content-ID: <name@domain>``
    (the HTML refers to them as ``cid:name@domain``, see ``reports.render.cid_uris``)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg.set_content(f"{subject}: this report is HTML; open it in a mail client that shows HTML.")
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    for name, png in charts.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{name}@{domain}>")
    return msg


def send_email(msg: EmailMessage, host: str, port: int, timeout_s: float = 30.0) -> None:
    """Send through an SMTP server (plain SMTP; put a relay in front for TLS/auth)."""
    with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
        smtp.send_message(msg)
