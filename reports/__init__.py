"""Performance reports: figures (``summary``), HTML with charts (``render``), e-mail (``mail``).

Pure: no Kafka here; ``cli/report.py`` reads the topics and delivers.
"""
