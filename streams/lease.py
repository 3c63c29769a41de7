"""One active instance of a single-instance role, and standbys that take over when it dies.

The roles ``analysis``, ``recommendations``, ``approvals`` and ``budgets`` keep state that
one worker must own whole (a tenant's budget buckets, the approval limiter, the fleet-wide
plan). A second worker started with such a role is a *standby*: before its Faust app
starts, :func:`hold_lease` makes it join the consumer group ``<group_id>.lease`` on the
one-partition topic ``control.leases``; the member assigned that partition is the active
instance, the others wait. When the active worker dies, the broker drops it from the lease
group after ``session_timeout_s`` and gives the partition to a standby, which then starts
its app: its Faust consumer joins the role's group once the dead member's session has
expired there too, recovers the tables from their changelogs and goes on from the
committed offsets, so failover takes about ``session_timeout_s`` plus a start-up. What the
dead worker decided but did not commit is decided again only where the durable decision
logs and ledgers let it (they make a repeat a no-op).

The lease is sticky (Kafka's sticky assignor): a standby that joins does not take it from
a live holder. A holder that loses it anyway (a pause longer than the session timeout)
stops at once (``on_lost``, by default SIGTERM to itself), so two instances never act
together for longer than that pause; run it under a supervisor that restarts it, and it
comes back as a standby.

>>> from config.settings import Settings
>>> lease_group(Settings(agents="approvals,budgets", app_id="cp"))
'cp-approvals.budgets.lease'
>>> needs_lease(Settings(agents="windows,alerts")), needs_lease(Settings(agents="budgets"))
(False, True)
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import threading
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

from config.kafka import client_options, start_client
from config.settings import Settings

__all__ = ["LEASE_TOPIC", "SINGLE_INSTANCE_ROLES", "hold_lease", "lease_group", "needs_lease"]

log = logging.getLogger(__name__)

#: Roles whose state one worker must own whole: one active instance, the others standbys.
SINGLE_INSTANCE_ROLES = frozenset({"analysis", "recommendations", "approvals", "budgets"})

#: Logical name of the one-partition topic the lease groups subscribe to (nothing is
#: ever written to it: holding its partition is the lease).
LEASE_TOPIC = "control.leases"


def needs_lease(settings: Settings) -> bool:
    """Whether a worker with these settings runs a single-instance role."""
    return bool(settings.agent_set & SINGLE_INSTANCE_ROLES)


def lease_group(settings: Settings) -> str:
    """The consumer group whose holder of partition 0 is the role's active instance."""
    return f"{settings.group_id}.lease"


def terminate_self() -> None:
    """Stop this worker the way Ctrl-C does (Faust's worker handles SIGTERM)."""
    os.kill(os.getpid(), signal.SIGTERM)


class _Holder(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tracks whether partition 0 is ours after each completed rebalance."""

    def __init__(self, topic: str, acquired: threading.Event, on_lost: Callable[[], None]):
        self.tp = TopicPartition(topic, 0)
        self.acquired = acquired
        self.on_lost = on_lost
        #: Set when a rebalance ended with another member holding the lease.
        self.waiting = threading.Event()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Every rebalance revokes first (eager protocol): only its outcome counts.
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.tp in assigned:
            if not self.acquired.is_set():
                log.info("lease %s acquired: this worker is the active instance", self.tp)
            self.acquired.set()
        elif self.acquired.is_set():
            log.error("lease %s lost to another instance: stopping this worker", self.tp)
            self.on_lost()
        else:
            self.waiting.set()


async def _keep(settings: Settings, holder: _Holder, stop: threading.Event) -> None:
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=lease_group(settings),
        enable_auto_commit=False,
        partition_assignment_strategy=(StickyPartitionAssignor,),
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=int(min(3.0, settings.session_timeout_s / 3) * 1000),
    )
    consumer.subscribe([holder.tp.topic], listener=holder)
    await start_client(consumer, settings)
    try:
        while not stop.is_set():
            # Polling keeps the membership alive (max.poll.interval) and runs rebalances.
            await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


def hold_lease(
    settings: Settings,
    on_lost: Callable[[], None] = terminate_self,
    announce: Callable[[str], None] = print,
) -> threading.Event:
    """Block until this process holds its roles' lease; keep it in a daemon thread.

    Returns the event that stops the keeper (set it to give the lease up). The topic
    must exist (``ensure_topics`` creates it). Raises ``RuntimeError`` if the keeper
    fails before the lease is held; a failure after that counts as losing it.
    """
    acquired, stop = threading.Event(), threading.Event()
    holder = _Holder(settings.topic(LEASE_TOPIC), acquired, on_lost)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_keep(settings, holder, stop))
        except Exception as exc:
            log.exception("lease keeper failed")
            failed.append(exc)
            if acquired.is_set():
                on_lost()

    keeper = threading.Thread(target=run, name="role-lease", daemon=True)
    keeper.start()

    def release() -> None:
        # Leave the group on a clean exit, so a restarted worker need not wait for this
        # member's session to expire before it may take the lease.
        stop.set()
        keeper.join(timeout=5.0)

    atexit.register(release)
    announced = False
    while not acquired.wait(timeout=0.5):
        if failed:
            raise RuntimeError(f"cannot join {lease_group(settings)}: {failed[0]!r}")
        if holder.waiting.is_set() and not announced:
            announce(
                f"standby: another worker holds the lease of {lease_group(settings)}; "
                "this one takes over when that one stops"
            )
            announced = True
    if announced:
        announce(f"active: took over the lease of {lease_group(settings)}")
    return stop
