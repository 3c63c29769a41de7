"""The Faust fetch-loop call that streams/transport.py short-cuts must still be there."""

from __future__ import annotations

import inspect
import re

from faust.transport import consumer as faust_consumer

from streams.transport import DRAIN_CALL, FastHandoffConsumer


def test_faust_fetch_loop_still_races_each_handoff_against_suspend_flow() -> None:
    source = inspect.getsource(faust_consumer.Consumer._drain_messages)
    assert re.sub(r"\s+", "", DRAIN_CALL) in re.sub(r"\s+", "", source)
    # ... and it is the only wait_first call in the consumer with two awaitables.
    assert len(re.findall(r"self\.wait_first\(", inspect.getsource(faust_consumer))) == 1


def test_fast_consumer_is_faust_aiokafka_consumer() -> None:
    from faust.transport.drivers.aiokafka import Consumer

    assert issubclass(FastHandoffConsumer, Consumer)
    assert FastHandoffConsumer.wait_first is not Consumer.wait_first
