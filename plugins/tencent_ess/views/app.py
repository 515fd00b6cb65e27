"""The report view: a FastAPI app the api-server mounts (`TencentEssPlugin`), shown in a run's and a DAG's page.

- `/runs/{dag_id}/{run_id}/`: the run's report (summary, tenants filtered by status and searched by enterprise,
  seal name or SealId, a page at a time, the retried calls, downloads of the CSV and JSON);
- `/runs/{dag_id}/{run_id}/tenants`: a page of its tenants as JSON;
- `/dags/{dag_id}/`: one line per run with a report, and a chart of tenants done per manifest day.

Every route asks Airflow's auth manager whether the caller may read the DAG's runs (`requires_access_dag`), from
the session cookie the UI sets or a bearer token: no token is 401, a user without the permission 403. What is
served is the report's summary and its rows' named keys (`reading.ROW_KEYS`): no secret, no image.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select

from ..errors import EssError, redact_location
from ..onboarding import GUARD_TASK, REPORT_TASK
from ..onboarding.report import LOCATION_XCOM
from ..storage import read_if_present, storage_path
from .reading import MAX_PAGE_SIZE, PAGE_SIZE, ReportCache, done_per_day, location_from_xcom, page_of, read_summary

#: How many of a DAG's latest runs its page lists.
DAG_PAGE_RUNS = 60

ReadRuns = Depends(requires_access_dag("GET", DagAccessEntity.RUN))

#: The tasks whose record of a report location is read: the report task's, and the guard's proposal (a revocation
#: awaiting approval). A record any other task (or an XCom made through the REST API) left is ignored.
RECORDED_BY = (REPORT_TASK, GUARD_TASK)

app = FastAPI(
    title="Tencent Cloud e-signature: tenant reports",
    description="The onboarding report of each run, and a DAG's runs at a glance.",
    dependencies=[ReadRuns],
    # FastAPI's own /docs, /redoc and /openapi.json are outside the app's dependencies: none is served
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)
_templates = Environment(
    loader=PackageLoader("tencent_ess", "views/templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_templates.filters["q"] = lambda value: quote(str(value), safe="")
_cache = ReportCache()


def _run(session: Any, dag_id: str, run_id: str) -> Any:
    from airflow.models.dagrun import DagRun

    run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if run is None:
        raise HTTPException(404, f"no run {run_id!r} of DAG {dag_id!r}")
    return run


def _locations(session: Any, dag_id: str, run_ids: list[str] | None = None) -> dict[str, dict[str, str] | str]:
    """Each run's recorded report location (or, when what is recorded is not one, the reason), by run id."""
    from airflow.models.xcom import XComModel

    # Oldest first, so that each run's latest record wins: the guard's proposal (a revocation awaiting approval)
    # until the report task writes the run's report.
    query = (
        select(XComModel)
        .where(
            XComModel.dag_id == dag_id,
            XComModel.key == LOCATION_XCOM,
            XComModel.task_id.in_(RECORDED_BY),
            XComModel.map_index == -1,
        )
        .order_by(XComModel.timestamp)
    )
    if run_ids is not None:
        query = query.where(XComModel.run_id.in_(run_ids))
    found: dict[str, dict[str, str] | str] = {}
    for xcom in session.scalars(query):
        try:
            location = location_from_xcom(XComModel.deserialize_value(xcom), xcom.run_id)
        except EssError as err:
            found[xcom.run_id] = str(err)
            continue
        if location:
            found[xcom.run_id] = location
    return found


def _location(session: Any, dag_id: str, run_id: str) -> dict[str, str] | None:
    location = _locations(session, dag_id, [run_id]).get(run_id)
    if isinstance(location, str):
        raise HTTPException(502, location)
    return location


def _recorded(session: Any, dag_id: str, run_id: str) -> dict[str, str]:
    """The run's report location; 404 when there is no such run, or it has no report yet."""
    _run(session, dag_id, run_id)
    location = _location(session, dag_id, run_id)
    if location is None:
        raise HTTPException(404, "this run has no report yet")
    return location


def _load(location: dict[str, str]):
    try:
        report = _cache.load(location["json"])
    except EssError as err:  # unreachable storage or a damaged file: named, never shown as an empty report
        raise HTTPException(502, str(err)) from None
    if report is None:
        raise HTTPException(404, f"the run's report {redact_location(location['json'])} is gone")
    return report


def _render(name: str, **values: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(name).render(**values))


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


@app.get("/runs/{dag_id}/{run_id}/tenants")
def tenants(
    dag_id: str,
    run_id: str,
    session: SessionDep,
    status: str = "",
    q: str = "",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> dict[str, Any]:
    """A page of the run's tenants that have `status` (any when empty) and whose enterprise, seal name or SealId
    holds `q`: `{"total", "matched", "offset", "limit", "rows"}`."""
    return page_of(_load(_recorded(session, dag_id, run_id)).rows, status, q, offset, limit)


@app.get("/runs/{dag_id}/{run_id}/report.{kind}")
def download(dag_id: str, run_id: str, kind: str, session: SessionDep) -> Response:
    """The report's CSV or JSON file, as the report task wrote it."""
    if kind not in ("csv", "json"):
        raise HTTPException(404, "only report.csv and report.json")
    location = _recorded(session, dag_id, run_id)
    try:
        raw = read_if_present(storage_path(location[kind]))
    except EssError as err:
        raise HTTPException(502, str(err)) from None
    if raw is None:
        raise HTTPException(404, f"the run's report {redact_location(location[kind])} is gone")
    # The saved file's name tells a plan from an apply (on disk, a run's report is named by its run id alone)
    stem = storage_path(location[kind]).name.removesuffix(f".{kind}")
    name = f"{stem}.{location['mode']}.{kind}" if location["mode"] else f"{stem}.{kind}"
    media = "text/csv; charset=utf-8" if kind == "csv" else "application/json"
    return Response(
        raw, media_type=media, headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    )


@app.get("/runs/{dag_id}/{run_id}/", response_class=HTMLResponse)
def run_page(
    dag_id: str,
    run_id: str,
    session: SessionDep,
    status: str = "",
    q: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """The run's report: summary, a page of its tenants (filtered), the retried calls, downloads."""
    run = _run(session, dag_id, run_id)
    location = _location(session, dag_id, run_id)
    values: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "state": str(run.state or ""), "report": None}
    if location is None:
        return _render("run.html", **values)
    report = _load(location)
    shown = page_of(report.rows, status, q, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, math.ceil(shown["matched"] / PAGE_SIZE))

    def link(**change: Any) -> str:
        query = {"status": status, "q": q, "page": page, **change}
        return "?" + urlencode({k: v for k, v in query.items() if v not in ("", None, 1)})

    values.update(
        report=report,
        summary=report.summary,
        mode=report.summary.get("mode", location["mode"] or "apply"),
        day=location["day"],
        where=redact_location(location["json"]),
        shown=shown,
        status=status,
        q=q,
        page=page,
        pages=pages,
        link=link,
        retried=report.retried[:100],
    )
    return _render("run.html", **values)


def _runs_with_reports(session: Any, dag_id: str) -> list[dict[str, Any]]:
    from airflow.models.dagrun import DagRun

    runs = list(
        session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.run_after.desc()).limit(DAG_PAGE_RUNS)
        )
    )
    locations = _locations(session, dag_id, [run.run_id for run in runs])
    lines = []
    for run in runs:
        location = locations.get(run.run_id)
        line: dict[str, Any] = {
            "run_id": run.run_id,
            "state": str(run.state or ""),
            "run_after": _iso(run.run_after),
            "duration": (run.end_date - run.start_date).total_seconds() if run.end_date and run.start_date else None,
            "summary": None,
            "day": "",
            "problem": "",
        }
        if isinstance(location, str):
            line["problem"] = location
        elif location:
            line["day"] = location["day"]
            try:
                line["summary"] = read_summary(location["json"])
                if line["summary"] is None:
                    line["problem"] = f"report {redact_location(location['json'])} is gone"
            except EssError as err:  # one unreadable report is named on its line; the others still show
                line["problem"] = str(err)
        else:
            line["problem"] = "no report"
        lines.append(line)
    return lines


@app.get("/dags/{dag_id}/runs")
def dag_runs(dag_id: str, session: SessionDep) -> list[dict[str, Any]]:
    """The DAG's latest runs, each with its report's day and summary (or why there is none)."""
    return _runs_with_reports(session, dag_id)


@app.get("/dags/{dag_id}/", response_class=HTMLResponse)
def dag_page(dag_id: str, session: SessionDep) -> HTMLResponse:
    """One line per run (day, mode, counts by status, duration) and a chart of tenants done per day."""
    lines = _runs_with_reports(session, dag_id)
    days = done_per_day(lines)[-30:]
    top = max((count for _, count in days), default=0)
    return _render("dag.html", dag_id=dag_id, lines=lines, days=days, top=max(top, 1))
