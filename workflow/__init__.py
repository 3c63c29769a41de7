"""The approval workflow and the closed loop: recommendations become actions, and back.

Pure code (no Kafka, no Faust): :mod:`workflow.transitions` is the status state machine
of a recommendation, :mod:`workflow.policy` the approval policies (data, from YAML),
:mod:`workflow.rate_limit` the per-provider action limits, :mod:`workflow.approver` the
decision that combines them (with dry-run), :mod:`workflow.validation` the realised vs
predicted check of applied actions, and :mod:`evaluation.closed_loop` the simulated
marketplace day that measures what the engine buys over a cheapest-first scheduler.
"""
