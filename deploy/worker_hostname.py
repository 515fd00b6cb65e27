"""`[core] hostname_callable` for several Celery workers on ONE machine (the native stack).

Airflow records the hostname of the worker that ran each task instance; on one machine every worker has the
same one. Each worker of `make stack` gets `AIRFLOW_WORKER_NAME` (also its `--celery-hostname`), so the task
instances say which worker ran them. On separate machines (docker compose) the default is right.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The worker's name from `AIRFLOW_WORKER_NAME`, else the machine's fully qualified name."""
    return os.environ.get("AIRFLOW_WORKER_NAME") or socket.getfqdn()
