"""Trigger-form helpers shared by the DAGs: refuse conf keys no Param declares.

Airflow merges a run's conf into its params whatever the keys, so a misspelt key (`seal_nmae`) would be
ignored silently and the run would go on with the default. `check_conf` makes that a clear failure naming
the key, a near miss if there is one, and every key the DAG knows.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import BaseOperator

from .errors import EssValidationError, failure_policy


def unknown_keys(conf: Mapping[str, Any] | None, known: Iterable[str]) -> list[str]:
    """The keys of `conf` that are not in `known`, sorted."""
    known_set = set(known)
    return sorted(key for key in (conf or {}) if key not in known_set)


def check_conf(conf: Mapping[str, Any] | None, known: Iterable[str]) -> None:
    """Raise `EssValidationError` if `conf` holds a key `known` does not: names each unknown key, the known
    key it most resembles, and the full list of known keys."""
    known_sorted = sorted(known)
    bad = unknown_keys(conf, known_sorted)
    if not bad:
        return
    described = []
    for key in bad:
        close = difflib.get_close_matches(str(key), known_sorted, n=1, cutoff=0.6)
        described.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    plural = "s" if len(bad) > 1 else ""
    raise EssValidationError(
        "conf", f"unknown key{plural} {', '.join(described)}; known keys: {', '.join(known_sorted)}"
    )


class CheckConfOperator(BaseOperator):
    """First task of a DAG: fails the run, before any API call and without retry, when the run's conf holds a
    key no Param declares (`check_conf`). A plain operator, so that the DAG file needs no `@task` machinery.

    :param known: the Param names the DAG declares.
    """

    ui_color = "#eeeeee"

    def __init__(self, *, known: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.known = sorted(known)

    def execute(self, context: Any) -> None:
        with failure_policy():
            check_conf(context["dag_run"].conf, self.known)
