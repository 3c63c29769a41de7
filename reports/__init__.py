"""Performance reports: figures (``summary``), HTML with charts (``render``), e-mail (``mail``).

Pure: no Kafka here; ``streams/report_cli.py`` reads the topics and delivers.
"""
