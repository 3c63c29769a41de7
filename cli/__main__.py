"""``python -m cli`` is the ``computeperf`` command."""

from cli.main import main

main()
