"""Table recovery that does not drop the first input records after it (faust-streaming#596).

When Faust's recovery ends (``Recovery.on_recovery_completed``, and ``_resume_streams``
for a worker without tables) it resumes the input partitions, seeks them to their
committed offsets (``consumer.perform_seek``: one OffsetFetch per assigned partition),
and only then calls ``app.flow_control.resume()``, which **clears every stream queue**,
and ``consumer.resume_flow()``. A recovery that read a changelog resumed the consumer's
flow already ("Resuming flow..."), so during the seek the fetch loop hands input records
to the stream queues, past their committed offsets, and the clear throws them away. The
consumer's position is beyond them: they are never read again, their offsets are never
acknowledged, and Faust's commit stops at the gap. Windows of those records are lost and
the partition looks unconsumed (lag that never falls) until the next rebalance. The seek
is slow on a loaded machine or broker, so it happened in the full test suite and not alone
(``tests/integration/test_scale_and_recovery.py`` under CPU load: a restarted worker
discarded 466 telemetry records, 80 windows missing).

Upstream: faust-streaming#596 (open) describes this race; #217 (issue #216) and #253
fixed the same ordering for the case where the consumer's flow was stopped, not for a
recovery that had resumed it.

The fix: stop the consumer's flow before Faust resumes the input partitions. The fetch
loop then delivers nothing until Faust's own ``consumer.resume_flow()``, which comes
after the seek and after the queues were cleared, so reading starts at the committed
offsets with empty queues. Records a fetch returns while the flow is stopped are not
delivered (``Consumer.getmany`` seeks back to the committed offsets instead). If a new
rebalance interrupts, the next recovery resumes the flow on every path.
``tests/unit/test_recovery.py`` pins the Faust call order this relies on.
"""

from __future__ import annotations

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery


class ResumeAfterClearRecovery(Recovery):
    """Faust's recovery with the consumer's flow stopped until the stream queues are clear."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self.app.consumer.stop_flow()
        await super().on_recovery_completed(generation_id)

    async def _resume_streams(self, generation_id: int = 0) -> None:
        self.app.consumer.stop_flow()
        await super()._resume_streams(generation_id)


class ComputeperfTableManager(TableManager):
    """Faust's table manager with :class:`ResumeAfterClearRecovery` (the app's
    ``TableManager`` setting)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = ResumeAfterClearRecovery(
                self.app, self, beacon=self.beacon, loop=self.loop
            )
        return self._recovery
