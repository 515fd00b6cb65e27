"""Store the seal connection in Airflow's metadata database once, so that the Connections page shows it and an edit
made there is what runs use (an `AIRFLOW_CONN_*` variable would shadow the UI's edits without a word).

    ESS_CONNECTION='{"conn_type": "tencentcloud_ess", ...}' python deploy/seed_connection.py [conn_id]

The JSON comes from the environment, never from arguments (those show in `ps`); the id defaults to
`tencentcloud_ess_default`. A connection already stored under the id is left as it is, whatever the JSON says:
the UI's edits win. One exception, for local deployments whose emulator moves to another port on each start:
when `ESS_CONNECTION_PREVIOUS` holds the JSON this script stored last time and the stored connection still equals
it (nobody edited it), it is replaced. `make airflow`, `make stack` and compose's `airflow-init` run this after
`airflow db migrate`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: What a connection is made of: compared (the extra as parsed JSON) and, to replace one, copied.
FIELDS = ("conn_type", "host", "port", "schema", "login", "password", "extra")


def seed(conn_id: str, conn_json: str, previous_json: str = "") -> str:
    """Add the connection unless one of that id is stored (replace it if it is still exactly `previous_json`);
    returns what happened, in words (no secret)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    conn = Connection.from_json(conn_json, conn_id=conn_id)
    where = f"({conn.conn_type}, {conn.host}:{conn.port}): edit it in Admin → Connections"
    with create_session() as session:
        stored = session.scalar(select(Connection).where(Connection.conn_id == conn_id).limit(1))
        if stored is None:
            session.add(conn)
            return f"connection {conn_id!r} stored {where}"
        if previous_json and _same(stored, Connection.from_json(previous_json, conn_id=conn_id)):
            for field in FIELDS:
                setattr(stored, field, getattr(conn, field))
            return f"connection {conn_id!r} updated (it was as this script left it) {where}"
    return f"connection {conn_id!r} is stored already: kept as it is (edit it in Admin → Connections)"


def _same(a: Any, b: Any) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in FIELDS[:-1]) and a.extra_dejson == b.extra_dejson


def main(argv: list[str]) -> int:
    conn_json = os.environ.get("ESS_CONNECTION", "").strip()
    if not conn_json:
        print("ESS_CONNECTION is not set: no connection stored", file=sys.stderr)
        return 2
    conn_id = argv[1] if len(argv) > 1 else "tencentcloud_ess_default"
    print(seed(conn_id, conn_json, os.environ.get("ESS_CONNECTION_PREVIOUS", "").strip()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
