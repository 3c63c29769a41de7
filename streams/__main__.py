"""``python -m streams`` is the ``computeperf`` command."""

from streams.cli import main

main()
