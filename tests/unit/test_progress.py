"""Progress bars: drawn on a terminal, nothing on a pipe or file."""

from __future__ import annotations

import io

from streams.progress import terminal_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_the_count() -> None:
    out = _Terminal()
    with terminal_progress("copying", total=10, stream=out) as advance:
        for _ in range(10):
            advance(1)
    text = out.getvalue()
    assert "copying" in text
    assert "10/10" in text


def test_a_pipe_gets_nothing() -> None:
    out = io.StringIO()
    with terminal_progress("copying", total=10, stream=out) as advance:
        advance(10)
    assert out.getvalue() == ""
