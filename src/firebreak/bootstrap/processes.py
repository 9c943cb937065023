"""The long-running parts of a Firebreak process: the index keeper, the job worker and the hotline's SMTP listener.

`firebreak serve` runs them beside the web application (with `--workers N`, each web process runs only the index
keeper; the job worker and the SMTP listener are then their own processes: `firebreak jobs worker`, `firebreak
smtp`); tests run the very same wiring.
"""

from __future__ import annotations

import logging
import threading

from firebreak.bootstrap.system import System
from firebreak.core.jobs.queue import Worker
from firebreak.mail.smtp import ListenerConfig, SmtpListener
from firebreak.matching.index import warm_up

log = logging.getLogger(__name__)


class Services:
    def __init__(self, system: System, *, worker: bool = True, smtp: bool = True, indexes: bool = True) -> None:
        self.system = system
        self.indexes = indexes
        self.worker: Worker | None = system.worker() if worker else None
        self.smtp: SmtpListener | None = None
        if smtp:
            config = ListenerConfig.from_settings(system.settings)
            self.smtp = SmtpListener(config, system.orders.receive_mail, clock=system.clock.now)

    def start(self) -> None:
        # Compile (or load from numba's cache) the Hamming kernels off the request path.
        threading.Thread(target=warm_up, name="firebreak-warm-up", daemon=True).start()
        if self.indexes:
            self.system.index_keeper.start()
        if self.worker is not None:
            self.worker.start()
        if self.smtp is not None:
            self.smtp.start()
            log.info("hotline SMTP listener on %s:%s for %s", self.smtp.host, self.smtp.port,
                     self.system.settings.hotline_address)

    def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.indexes:
            self.system.index_keeper.stop()
