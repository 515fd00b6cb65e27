"""The installed distribution registers the provider and its connection form."""

import subprocess
import sys

from tencent_ess import get_provider_info
from tencent_ess.hooks import EssHook


def test_provider_info_declares_the_connection_type_and_form():
    [conn] = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "tencentcloud_ess" and conn["hook-class-name"] == "tencent_ess.hooks.EssHook"
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"login": "SecretId", "password": "SecretKey", "host": "Endpoint host",
                                       "port": "Port", "schema": "Scheme"}
    # host and port stay visible: Airflow's Test button compares them with the stored connection
    assert not {"host", "port"} & set(behaviour["hidden-fields"])
    assert behaviour["placeholders"]["port"] == "443"
    assert {"app_id", "region", "timeout"} <= set(conn["conn-fields"])
    assert EssHook.get_ui_field_behaviour() == conn["ui-field-behaviour"]


def test_airflow_providers_list_shows_it():
    run = subprocess.run([sys.executable, "-m", "airflow", "providers", "list"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "airflow-provider-tencent-ess" in run.stdout, run.stderr[-1000:]
