"""The long-running parts of a Firebreak process: the index keeper, the job worker and the hotline's SMTP listener.

`firebreak serve` runs them beside the web application (with `--workers N`, each web process runs only the index
keeper; the job worker and the SMTP listener are then their own processes: `firebreak jobs worker`, `firebreak
smtp`); tests run the very same wiring.
"""

from __future__ import annotations

import logging
import threading

from firebreak.bootstrap import metrics
from firebreak.bootstrap.system import System
from firebreak.core.jobs.queue import Worker
from firebreak.mail.smtp import ListenerConfig, SmtpListener
from firebreak.matching import copydetect, index

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0



def _warm_up() -> None:
    """Compile (or load from numba's cache) the Hamming index's kernels and the copy index's vote."""
    index.warm_up()
    copydetect.warm_up()

class Services:
    def __init__(self, system: System, *, worker: bool = True, smtp: bool = True, indexes: bool = True) -> None:
        self.system = system
        self.indexes = indexes
        self.worker: Worker | None = system.worker() if worker else None
        self.smtp: SmtpListener | None = None
        if smtp:
            config = ListenerConfig.from_settings(system.settings)
            self.smtp = SmtpListener(config, system.orders.receive_mail, clock=system.clock.now)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self) -> None:
        # Compile (or load from numba's cache) the Hamming kernels off the request path.
        threading.Thread(target=_warm_up, name="firebreak-warm-up", daemon=True).start()
        if self.indexes:
            self.system.index_keeper.start()
        self._ticker = threading.Thread(target=self._tick, name="firebreak-services-tick", daemon=True)
        self._ticker.start()
        if self.worker is not None:
            self.worker.start()
        if self.smtp is not None:
            self.smtp.start()
            log.info("hotline SMTP listener on %s:%s for %s", self.smtp.host, self.smtp.port,
                     self.system.settings.hotline_address)

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            if self.indexes:
                metrics.observe_indexes(self.system.indexes)

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        if self.smtp is not None:
            self.smtp.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.indexes:
            self.system.index_keeper.stop()


def prepare_index_snapshot(system: System) -> str:
    """Make sure the host has a snapshot the processes about to start can map (instead of each building its own
    indexes from the database at once); returns what was done. The lock is given back for a serving process."""
    keeper, indexes = system.index_keeper, system.indexes
    store = indexes.snapshots
    if store is None:
        return "index snapshots are off (FIREBREAK_INDEX_SNAPSHOTS=0): every process builds its own indexes"
    if not store.try_lock():
        return f"another process on this host writes the index snapshots in {store.folder}"
    try:
        system.db.read(lambda session: indexes.sync(session, force=True))  # a build reads for long: no write lock
        if indexes.source == "snapshot" and indexes.pending_rows() < system.settings.index_snapshot_rows:
            return f"index snapshot in {store.folder} is usable (log position {indexes.safe_position})"
        position = keeper.write_snapshot()
        return (f"index snapshot written to {store.folder} at log position {position} "
                f"({len(indexes.bank)} bank entries, {len(indexes.media)} media)")
    finally:
        store.release()
