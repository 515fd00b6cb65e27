"""The Airflow plugin of this provider: the report view (`views.app`), mounted by the api-server under
`/ess-reports` and shown as a "Tenant report" tab of every DAG run and a "Tenant reports" tab of every DAG.

Registered through the `airflow.plugins` entry point (pyproject.toml): installing the provider is enough. The tabs show on every DAG: a run of a DAG that writes no tenant report says it
has none."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

#: Where the api-server mounts the report view; the UI's tabs point under it.
URL_PREFIX = "/ess-reports"


class ReportViewApp:
    """The report view's ASGI app (`views.app.app`), imported on its first request. Every task process loads the
    plugins (for their macros): importing the view's FastAPI app and Airflow's API security there would cost each
    task half a second and 30 MB for a page only the api-server serves."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from .views.app import app

            self._app = app
        await self._app(scope, receive, send)


class TencentEssPlugin(AirflowPlugin):
    """The tenant report view, in each run's and each DAG's page of the Airflow UI."""

    name = "tencent_ess"
    fastapi_apps = [
        {"app": ReportViewApp(), "url_prefix": URL_PREFIX, "name": "Tencent Cloud e-signature tenant reports"}
    ]
    external_views = [
        {
            "name": "Tenant report",
            "href": f"{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}/",
            "destination": "dag_run",
            "url_route": "tenant-report",
        },
        {
            "name": "Tenant reports",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}/",
            "destination": "dag",
            "url_route": "tenant-reports",
        },
    ]
