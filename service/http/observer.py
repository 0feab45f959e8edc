"""What a finished request leaves behind: its access line, its Prometheus metrics and, on Lambda, its
CloudWatch embedded-metric-format line."""

from __future__ import annotations

import logging

from service import applog
from service.settings import Settings
from service.telemetry import RequestTelemetry

logger = logging.getLogger("digits.observability")


class Observer:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._tally_flush_due = False  # the ASGI entry's metrics, written once per turn of the loop

    def observe(self, t: RequestTelemetry, lambda_runtime: bool, grouped: bool) -> None:
        """Never raises: a full metrics disk must not turn an answer (maybe a logged 200) into a 500."""
        try:
            applog.access(t.access_fields())
            if self.settings.metrics:
                self._count(t, lambda_runtime, grouped)
        except Exception:  # noqa: BLE001
            logger.exception("could not record the request's metrics")

    def _count(self, t: RequestTelemetry, lambda_runtime: bool, grouped: bool) -> None:
        from service import monitoring

        if grouped:  # on the event loop: counted with the other requests of this turn, written after it
            monitoring.observe(t, self.settings.low_confidence, into=monitoring.tally())
            if not self._tally_flush_due:
                import asyncio  # here, not at the top: the Lambda path never needs it

                self._tally_flush_due = True
                asyncio.get_running_loop().call_soon(self._flush_tally)
        else:
            monitoring.observe(t, self.settings.low_confidence)
        if lambda_runtime:
            print(monitoring.emf_line(t, self.settings.low_confidence), flush=True)

    def _flush_tally(self) -> None:
        from service import monitoring

        self._tally_flush_due = False
        try:
            monitoring.tally().flush()
        except Exception:  # noqa: BLE001 (a full metrics disk: the figures are lost, no answer is)
            logger.exception("could not write the metrics of this turn")
