"""The long-running parts of a Firebreak process: the job worker and the hotline's SMTP listener.

`firebreak serve` runs them beside the web application; tests run the very same wiring.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firebreak.jobs.queue import Worker
    from firebreak.mail.smtp import SmtpListener
    from firebreak.runtime import Runtime

log = logging.getLogger(__name__)


class Services:
    def __init__(self, runtime: Runtime, *, worker: bool = True, smtp: bool = True) -> None:
        self.runtime = runtime
        self.worker: Worker | None = runtime.worker() if worker else None
        self.smtp: SmtpListener | None = None
        if smtp:
            from firebreak.mail.smtp import ListenerConfig, SmtpListener
            from firebreak.orders.intake import receive_mail

            config = ListenerConfig.from_settings(runtime.settings)
            self.smtp = SmtpListener(config, lambda mail: receive_mail(runtime, mail), clock=runtime.clock.now)

    def start(self) -> None:
        import threading

        from firebreak.matching.index import warm_up

        # Compile (or load from numba's cache) the Hamming kernels off the request path.
        threading.Thread(target=warm_up, name="firebreak-warm-up", daemon=True).start()
        if self.worker is not None:
            self.worker.start()
        if self.smtp is not None:
            self.smtp.start()
            log.info("hotline SMTP listener on %s:%s for %s", self.smtp.host, self.smtp.port,
                     self.runtime.settings.hotline_address)

    def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.stop()
        if self.worker is not None:
            self.worker.stop()
