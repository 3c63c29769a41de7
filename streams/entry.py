"""The ``computeperf`` console script: ``detect`` without Faust, everything else with it.

``computeperf detect`` starts once per exported file (58 times for NAB); importing
Faust, the app and its settings costs about 2.5 s, the detector itself a tenth of that.
So ``detect`` runs its click command directly, and every other command goes through
:func:`streams.cli.main` (Faust's CLI).
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``computeperf`` console script."""
    if sys.argv[1:2] == ["detect"]:
        from streams.detect_cli import detect

        detect.main(sys.argv[2:], prog_name="computeperf detect")
        return
    from streams.cli import main as faust_main

    faust_main()
