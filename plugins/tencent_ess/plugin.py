"""The Airflow plugin of this provider: the report view (`views.app`), mounted by the api-server under
`/ess-reports` and shown as a "Tenant report" tab of every DAG run and a "Tenant reports" tab of every DAG.

Registered through the `airflow.plugins` entry point (pyproject.toml): installing the provider is enough. The tabs show on every DAG: a run of a DAG that writes no tenant report says it
has none."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from .views.app import URL_PREFIX, app


class TencentEssPlugin(AirflowPlugin):
    """The tenant report view, in each run's and each DAG's page of the Airflow UI."""

    name = "tencent_ess"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Tencent Cloud e-signature tenant reports"}]
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
