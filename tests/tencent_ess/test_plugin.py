"""The plugin as Airflow loads it: in every task process (for macros), so it must stay light; in the api-server,
where its tabs point at the report view's routes."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_loading_the_plugin_imports_no_web_stack():
    """Every task process loads the plugins: the view's FastAPI app and Airflow's API security are imported on the
    view's first request, in the api-server, never by a task."""
    code = (
        "import json, sys; import tencent_ess.plugin; "
        "print(json.dumps([m for m in ('fastapi', 'airflow.api_fastapi.core_api.security', 'tencent_ess.views.app')"
        " if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT / "plugins", timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_tabs_point_at_the_views_routes():
    from tencent_ess.plugin import URL_PREFIX, TencentEssPlugin
    from tencent_ess.views.app import app

    paths = {route.path for route in app.routes}
    for view in TencentEssPlugin.external_views:
        assert view["href"].startswith(URL_PREFIX + "/")
        route = view["href"][len(URL_PREFIX) :].replace("{DAG_ID}", "{dag_id}").replace("{RUN_ID}", "{run_id}")
        assert route in paths, (route, paths)
    assert {view["destination"] for view in TencentEssPlugin.external_views} == {"dag_run", "dag"}
    [mounted] = TencentEssPlugin.fastapi_apps
    assert mounted["url_prefix"] == URL_PREFIX
