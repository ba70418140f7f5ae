"""Worker plugins for the Dask clusters a study starts (imported on the workers too)."""
from __future__ import annotations

import logging
import signal
import threading

import distributed


class IgnoreInterrupt(distributed.WorkerPlugin):
    """The workers ignore Ctrl-C, which a terminal sends to the whole process group: the study
    handles it and closes the cluster (without this each worker printed a KeyboardInterrupt
    traceback and the scheduler logged it as died)."""

    def setup(self, worker) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def quiet_shutdown() -> None:
    """Run on each worker just before the study closes its own cluster: a heartbeat that meets
    the closing scheduler logs a CommClosedError traceback at ERROR (a known Dask shutdown race,
    dask/distributed#7192); trials' errors have all come back by then."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
