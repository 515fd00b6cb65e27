"""Apache Airflow provider for Tencent Cloud e-signature (电子签 essbasic 2021-05-26) seals.

Installed as a distribution it registers the `tencentcloud_ess` connection type (form included);
copied into an Airflow `plugins/` folder it still works with `AIRFLOW_CONN_*` connections.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

__version__ = "0.6.1"

#: Recommended task-retry settings for transient API errors (rate limits past the hook's in-call retries,
#: InternalError, outages): put them in your DAG's ``default_args``. Operators do not impose them, so a DAG's
#: own ``default_args`` always decide.
RETRY_DEFAULTS: dict[str, Any] = {
    "retries": 4,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}

CONN_TYPE = "tencentcloud_ess"
INTEGRATION = "Tencent Cloud e-signature (essbasic)"
DEFAULT_CONN_ID = "tencentcloud_ess_default"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow through the `apache_airflow_provider` entry point."""
    return {
        "package-name": "airflow-provider-tencent-ess",
        "name": "Tencent Cloud e-signature (essbasic)",
        "description": "Create electronic seals for sub-enterprises and grant them to employees.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://www.tencentcloud.com/products/ess",
                "how-to-guide": [
                    "docs/operators/index.md",
                    "docs/operators/seals.md",
                    "docs/operators/policies.md",
                    "docs/operators/review.md",
                ],
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["tencent_ess.hooks"]}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": ["tencent_ess.operators"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["tencent_ess.sensors"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["tencent_ess.triggers"]}],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "tencent_ess.hooks.EssHook",
                "hook-name": "Tencent Cloud e-signature",
                # The endpoint lives in host / port / schema, the fields Airflow's connection test compares
                # with the stored connection: the UI always posts a port, so a stored port makes Test work (an
                # empty one is posted as 0 and refused on 3.3.2), and a changed host must bring its own key.
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {
                        "login": "SecretId",
                        "password": "SecretKey",
                        "host": "Endpoint host",
                        "port": "Port",
                        "schema": "Scheme",
                    },
                    "placeholders": {
                        "login": "AKID...",
                        "host": "essbasic.tencentcloudapi.com",
                        "port": "443",
                        "schema": "https",
                        "app_id": "channel application AppId",
                        "region": "ap-guangzhou (optional)",
                        "timeout": "30",
                    },
                },
                "conn-fields": {
                    "app_id": {"label": "AppId", "schema": {"type": ["string", "null"]}},
                    "region": {"label": "Region", "schema": {"type": ["string", "null"]}},
                    "timeout": {
                        "label": "Request timeout (s)",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "allow_plain_http": {
                        "label": "Allow plain http",
                        "description": "Only for an endpoint on a private network (a compose service): http to a "
                        "host other than loopback is refused unless this is on.",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
            }
        ],
    }
