"""EssHook: connection settings, the official client, in-call retries and test_connection."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import pytest

from tencent_ess.errors import SERVER_ERROR_ATTEMPTS, EssApiError, EssConfigError
from tencent_ess.hooks import EssHook, parse_endpoint
from tencent_ess.ratelimit import ActionRateLimiter
from tests.conftest import OPERATOR, ORG, SECRET_KEY, agent, conn_json, emulator_state


def system_seal(name="合同专用章"):
    return {"Agent": agent(), "SealName": name, "GenerateSource": "SealGenerateSourceSystem", "SealType": "CONTRACT"}


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        ("https://essbasic.tencentcloudapi.com", ("https", "essbasic.tencentcloudapi.com")),
        ("https://essbasic.test.ess.tencent.cn/", ("https", "essbasic.test.ess.tencent.cn")),
        ("http://127.0.0.1:8964", ("http", "127.0.0.1:8964")),
        ("http://localhost:1", ("http", "localhost:1")),
        ("http://[::1]:8964", ("http", "[::1]:8964")),
    ],
)
def test_endpoints_accepted(endpoint, expected):
    assert parse_endpoint(endpoint) == expected


@pytest.mark.parametrize(
    "endpoint, words",
    [
        ("http://essbasic.tencentcloudapi.com", "plain http is refused"),
        ("http://10.0.0.5:8964", "plain http is refused"),
        ("essbasic.tencentcloudapi.com", "not an http(s) URL"),
        ("ftp://host", "not an http(s) URL"),
        ("https://host/path", "scheme://host[:port] only"),
    ],
)
def test_endpoints_refused(endpoint, words):
    with pytest.raises(EssConfigError, match="endpoint") as info:
        parse_endpoint(endpoint)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "conn, words",
    [
        ({"login": ""}, "login (SecretId)"),
        ({"password": ""}, "password (SecretKey)"),
        ({"extra": {"app_id": ""}}, "'app_id'"),
        ({"extra": {"timeout": "soon"}}, "'timeout'"),
        ({"extra": {"timeout": "nan"}}, "'timeout' must be a finite number"),
        ({"extra": {"timeout": "inf"}}, "'timeout' must be a finite number"),
        ({"extra": {"timeout": "-inf"}}, "'timeout' must be a finite number"),
        ({"extra": {"endpoint": "http://example.com"}}, "plain http"),
        ({"password": SECRET_KEY + "\n"}, "password (SecretKey) has leading or trailing whitespace"),
        ({"password": " " + SECRET_KEY}, "password (SecretKey) has leading or trailing whitespace"),
        ({"login": "AKIDtest\t"}, "login (SecretId) has leading or trailing whitespace"),
        ({"host": "other.example", "port": 443}, "host/port/schema (https://other.example) and extra 'endpoint'"),
        ({"host": "http://ess.example.com", "port": 80, "extra": {"endpoint": ""}}, "host/port/schema: plain http"),
        ({"host": "https://x.example", "schema": "http"}, "host says 'https' but schema says 'http'"),
        ({"host": "x.example", "schema": "ftp"}, "schema 'ftp'"),
    ],
)
def test_connection_settings_are_named(monkeypatch, conn, words):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(None, **{"extra": {"endpoint": "https://x.example"}, **conn})
    )
    with pytest.raises(EssConfigError) as info:
        _ = EssHook().settings
    assert words in str(info.value) and SECRET_KEY not in str(info.value)


def _conn(monkeypatch, **fields):
    extra = {"app_id": "app", **fields.pop("extra", {})}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT",
        json.dumps({"conn_type": "tencentcloud_ess", "login": "AKIDx", "password": "key", "extra": extra, **fields}),
    )
    return EssHook().settings


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({}, ("https", "essbasic.tencentcloudapi.com")),  # nothing set: the public endpoint
        ({"host": "essbasic.tencentcloudapi.com", "port": 443}, ("https", "essbasic.tencentcloudapi.com")),
        (
            {"host": "essbasic.test.ess.tencent.cn", "port": 443, "schema": "https"},
            ("https", "essbasic.test.ess.tencent.cn"),
        ),
        ({"host": "https://essbasic.tencentcloudapi.com", "port": 443}, ("https", "essbasic.tencentcloudapi.com")),
        ({"host": "ess.internal", "port": 8443}, ("https", "ess.internal:8443")),
        ({"host": "127.0.0.1", "port": 8964, "schema": "http"}, ("http", "127.0.0.1:8964")),
        (
            {"host": "127.0.0.1", "port": 8964, "schema": "http", "extra": {"endpoint": "http://127.0.0.1:8964"}},
            ("http", "127.0.0.1:8964"),
        ),  # both, naming the same place: fine
        (
            {
                "host": "essbasic.tencentcloudapi.com",
                "port": 443,
                "extra": {"endpoint": "https://essbasic.tencentcloudapi.com"},
            },
            ("https", "essbasic.tencentcloudapi.com"),
        ),
        ({"extra": {"endpoint": "http://localhost:1"}}, ("http", "localhost:1")),  # legacy extra only
    ],
)
def test_endpoint_from_host_port_schema_or_the_legacy_extra(monkeypatch, fields, expected):
    settings = _conn(monkeypatch, **fields)
    assert (settings.scheme, settings.netloc) == expected


def test_plain_http_to_a_named_host_only_by_explicit_opt_in():
    assert parse_endpoint("http://ess-emulator:8964", allow_plain_http=True) == ("http", "ess-emulator:8964")
    with pytest.raises(EssConfigError):
        parse_endpoint("http://ess-emulator:8964")


def test_settings_repr_hides_the_key(ess_conn):
    assert SECRET_KEY not in repr(EssHook().settings)


def test_one_client_per_thread_reused(ess_conn):
    hook = EssHook()
    assert hook.get_conn() is hook.get_conn()
    hook.call("CreateSealByImage", system_seal("一"))
    hook.call("CreateSealByImage", system_seal("二"))
    assert hook.stats["calls.CreateSealByImage"] == 2


def test_a_netrc_entry_for_the_host_does_not_replace_the_signature(ess_conn, monkeypatch, tmp_path):
    """requests would otherwise swap the signed Authorization header for Basic auth from ~/.netrc."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {urlsplit(ess_conn.url).hostname} login someone password something\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    seal_id = EssHook().call("CreateSealByImage", system_seal())["SealId"]
    assert seal_id


def test_the_sdk_proxy_rule_still_applies(ess_conn, monkeypatch):
    """The environment's proxy is the SDK's to apply (HTTP_PROXY for an http endpoint, unless NO_PROXY holds the
    endpoint's host:port)."""
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(EssApiError) as info:
        EssHook(max_attempts=1).call("CreateSealByImage", system_seal())
    assert info.value.transient
    url = urlsplit(ess_conn.url)
    monkeypatch.setenv("NO_PROXY", f"{url.hostname},{url.netloc}")  # requests matches the host, the SDK host:port
    assert emulator_state(ess_conn)["request_counts"] == {}  # the proxy was tried, the emulator never reached
    assert EssHook().call("CreateSealByImage", system_seal())["SealId"]


def test_test_connection_through_host_and_port(ess_conn, monkeypatch):
    """The form's way: endpoint in host/port/schema, no endpoint extra."""
    url = urlsplit(ess_conn.url)
    conn = json.loads(conn_json(ess_conn))
    del conn["extra"]["endpoint"]
    conn.update(host=url.hostname, port=url.port, schema="http")
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", json.dumps(conn))
    ok, message = EssHook().test_connection()
    assert ok, message


def test_whitespace_in_the_key_is_refused_before_any_call(ess_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(ess_conn, password=SECRET_KEY + "\n"))
    with pytest.raises(EssConfigError, match="password \\(SecretKey\\) has leading or trailing whitespace") as info:
        EssHook().call("CreateSealByImage", system_seal())
    assert SECRET_KEY not in str(info.value)
    assert emulator_state(ess_conn)["request_counts"] == {}


def test_test_connection_ok_and_wrong_key(ess_conn, monkeypatch):
    ok, message = EssHook().test_connection()
    assert ok, message
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(ess_conn, password="not-the-key"))
    ok, message = EssHook().test_connection()
    assert not ok and "AuthFailure.SignatureFailure" in message and "not-the-key" not in message


def test_test_connection_fails_with_a_wrong_app_id_and_names_the_extra(ess_conn, monkeypatch):
    """Regression (issue 25.14): the probe named no enterprise, so it was answered MissingParameter before the AppId
    was looked at, and a wrong AppId passed the Test."""
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(ess_conn, extra={"app_id": "NoSuchApp01"}))
    ok, message = EssHook().test_connection()
    assert not ok and "ResourceNotFound.Application" in message and "extra app_id" in message, message


def test_test_connection_fails_on_an_answer_that_does_not_prove_the_app_id(ess_conn, monkeypatch):
    """Only an answer given after the AppId was checked passes: a parameter error proves nothing."""

    def answer(self, action, params):
        raise EssApiError(action, "MissingParameter", "缺少参数", "req-1")

    monkeypatch.setattr(EssHook, "call", answer)
    ok, message = EssHook().test_connection()
    assert not ok and "MissingParameter" in message and "extra app_id" in message, message


def test_permanent_error_raised_at_once_with_one_call(ess_conn):
    hook = EssHook()
    with pytest.raises(EssApiError) as info:
        hook.call("CreateSealByImage", {**system_seal(), "SealType": "SECRET"})
    assert info.value.code == "InvalidParameter.ParamError" and not info.value.transient and info.value.request_id
    assert emulator_state(ess_conn)["request_counts"] == {"CreateSealByImage": 1}


def test_a_run_of_internal_errors_goes_up_as_transient_after_a_few_attempts(make_emulator, monkeypatch):
    emulator = make_emulator(faults={"internal": 1.0})
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    hook = EssHook(backoff_base=0.01, backoff_max=0.02)
    with pytest.raises(EssApiError) as info:
        hook.call("CreateSealByImage", system_seal())
    assert info.value.code == "InternalError.System" and info.value.transient
    assert emulator_state(emulator)["request_counts"] == {"CreateSealByImage": SERVER_ERROR_ATTEMPTS}
    assert [r["attempt"] for r in hook.retried] == list(range(1, SERVER_ERROR_ATTEMPTS))
    assert info.value.earlier == ["InternalError.System"] * (SERVER_ERROR_ATTEMPTS - 1)  # the first attempt's too
    # The task log shows the last error alone, not chained to the first attempt's ("During handling of ...").
    assert info.value.__context__ is None
    assert all(r["code"] == "InternalError.System" and r["request_id"] for r in hook.retried)


def test_network_errors_are_retried_in_call_then_raised(make_emulator, monkeypatch, capfd):
    emulator = make_emulator(faults={"drop_before": 1.0})
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    hook = EssHook(max_attempts=3, backoff_base=0.01, backoff_max=0.02)
    with pytest.raises(EssApiError) as info:
        hook.call("CreateSealByImage", system_seal())
    assert info.value.code == "ClientNetworkError" and info.value.transient
    assert emulator_state(emulator)["request_counts"] == {"CreateSealByImage": 3}
    assert hook.stats["retries.ClientNetworkError"] == 2
    assert "in-call retry 1/2" in capfd.readouterr().out


def test_rate_limit_is_ridden_out_in_call(make_emulator, monkeypatch, capfd):
    emulator = make_emulator(rate_limit=2)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    hook = EssHook(backoff_base=0.2, backoff_max=1.0)
    ids = [hook.call("CreateSealByImage", system_seal(f"章{i}"))["SealId"] for i in range(5)]
    assert len(set(ids)) == 5
    assert hook.stats["retries.RequestLimitExceeded"] >= 1
    assert "RequestLimitExceeded (RequestId " in capfd.readouterr().out  # each retry logged with its RequestId


def test_client_side_limiter_avoids_the_server_limit(make_emulator, monkeypatch):
    emulator = make_emulator(rate_limit=5)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    hook = EssHook(limiter=ActionRateLimiter(5))
    for i in range(12):
        hook.call("CreateSealByImage", system_seal(f"章{i}"))
    assert emulator_state(emulator).get("rate_limited", {}) == {}


def test_sdk_debug_logging_cannot_leak_bodies(ess_conn):
    logging.getLogger("tencentcloud_sdk_common").setLevel(logging.DEBUG)  # as a DEBUG root level would leave it
    EssHook().get_conn()
    assert logging.getLogger("tencentcloud_sdk_common").getEffectiveLevel() >= logging.WARNING


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 signed by nobody a client trusts."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_tls_certificates_are_verified(tmp_path, monkeypatch):
    import ssl

    from ess_emulator import EmbeddedEmulator
    from tests.conftest import SECRET_ID

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed(tmp_path))
    emulator = EmbeddedEmulator(secret_id=SECRET_ID, secret_key=SECRET_KEY)
    emulator.server.socket = context.wrap_socket(emulator.server.socket, server_side=True)
    with emulator:
        url = emulator.url.replace("http://", "https://")
        monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(extra={"endpoint": url}))
        hook = EssHook(max_attempts=1)
        with pytest.raises(EssApiError) as info:
            hook.call("ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 1})
    assert info.value.code == "ClientNetworkError" and "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert emulator.state.request_counts == {}  # the request never left the handshake


def test_non_loopback_https_keeps_the_default_ca_bundle(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(extra={"endpoint": "https://essbasic.tencentcloudapi.com"})
    )
    http = EssHook().get_conn().profile.httpProfile
    assert http.scheme == "https" and http.certification in (None, True)  # None: the SDK verifies with certifi


@pytest.fixture
def charset_server():
    """A server answering every POST with an API error, labelled `application/json; charset=utf-8` (not exactly
    `application/json`, which is all the SDK checks for errors)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(
                {
                    "Response": {
                        "Error": {"Code": "InvalidParameter.ParamError", "Message": "无效的授权用户Id"},
                        "RequestId": "req-charset-1",
                    }
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_error_answer_with_a_charset_is_an_error_not_a_success(charset_server, monkeypatch):
    """Regression (issue 12.8): the SDK read Response.Error only under exactly `application/json`; a grant then
    reported its users as "already held"."""
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(extra={"endpoint": charset_server}))
    with pytest.raises(EssApiError) as info:
        EssHook().call("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": "S", "UserIds": ["u1"]})
    assert (info.value.code, info.value.request_id) == ("InvalidParameter.ParamError", "req-charset-1")
    assert not info.value.transient


@pytest.mark.parametrize(
    "change, code, field",
    [
        ({"password": "wrong-key"}, "AuthFailure.SignatureFailure", "password (SecretKey)"),
        ({"login": "AKIDunknown000000000000000000000000"}, "AuthFailure.SecretIdNotFound", "login (SecretId)"),
        ({"extra": {"app_id": "NoSuchApp0000000000000000000000"}}, "ResourceNotFound.Application", "extra app_id"),
    ],
)
def test_credential_errors_name_the_connection_and_the_field(emulator, monkeypatch, change, code, field):
    """Regression (issue 12.17): `AuthFailure.SignatureFailure … 签名错误` did not say which credential to check."""
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator, **change))
    hook = EssHook()
    with pytest.raises(EssApiError) as info:
        hook.call("ChannelDescribeOrganizationSeals", {"Agent": hook.agent(ORG, OPERATOR)})
    message = str(info.value)
    assert info.value.code == code and f"check connection 'tencentcloud_ess_default': {field}" in message
    assert SECRET_KEY not in message and "wrong-key" not in message


@pytest.fixture
def status_server():
    """A server answering every POST with a fixed HTTP status and counting the requests."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = {"count": 0, "status": 403}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["count"] += 1
            self.send_response(seen["status"])
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "status, code",
    [(403, "HTTPError.403"), (413, "HTTPError.413"), (502, "ServerNetworkError"), (429, "ServerNetworkError")],
)
def test_only_5xx_408_and_429_answers_are_transient(status_server, monkeypatch, status, code):
    """Review finding: every non-200 answer was `ServerNetworkError`, so a gateway's 403 was retried 6 times."""
    url, seen = status_server
    seen["status"] = status
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(extra={"endpoint": url}))
    with pytest.raises(EssApiError) as info:
        EssHook(backoff_base=0.01).call("ChannelDescribeOrganizationSeals", {"Agent": agent()})
    assert info.value.code == code and info.value.transient == (code == "ServerNetworkError")
    assert seen["count"] == (1 if status in (403, 413) else EssHook().max_attempts)


@pytest.mark.parametrize(
    "change, code, words",
    [
        (
            {"can_query_seals": False},
            "OperationDenied.OperatorHasNoPermission",
            f"operator_open_id: operator {OPERATOR!r} lacks the seal-query permission (印章查询) of enterprise {ORG!r}",
        ),
        (
            {"closing": True},
            "OperationDenied.OrganizationClosing",
            f"proxy_organization_open_id: enterprise {ORG!r} is being closed",
        ),
    ],
)
def test_errors_about_one_enterprise_say_which_input_and_what_to_do(
    make_emulator, monkeypatch, tmp_path, change, code, words
):
    """Issue 26.5 and 26.6: describing seals needs the operator's seal-query permission, and a closing enterprise
    refuses every action; the emulator models both in its fixture, the hook names the input at fault."""
    from ess_emulator import DEFAULT_FIXTURE

    fixture = json.loads(DEFAULT_FIXTURE.read_text(encoding="utf-8"))
    [org] = [o for o in fixture["apps"][0]["organizations"] if o["open_id"] == ORG]
    if "can_query_seals" in change:
        [operator] = [e for e in org["employees"] if e["open_id"] == OPERATOR]
        operator.update(change)
    else:
        org.update(change)
    (tmp_path / "fixture.json").write_text(json.dumps(fixture), encoding="utf-8")
    emulator = make_emulator(fixtures=tmp_path / "fixture.json")
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    hook = EssHook()
    with pytest.raises(EssApiError) as info:
        hook.call("ChannelDescribeOrganizationSeals", {"Agent": hook.agent(ORG, OPERATOR), "Limit": 1})
    assert info.value.code == code and not info.value.transient and f"check {words}" in str(info.value)


def test_test_connection_of_an_unsaved_form_names_no_random_id(ess_conn, monkeypatch):
    """The UI tests an unsaved form under a random id: its messages say "the connection", never that id."""
    conn = json.loads(conn_json(ess_conn))
    monkeypatch.setenv("AIRFLOW_CONN_VNDBJBHF", json.dumps({**conn, "extra": {**conn["extra"], "timeout": "soon"}}))
    ok, message = EssHook(ess_conn_id="VNdbJbHF").test_connection()
    assert not ok and message == "the connection: extra 'timeout' must be a number of seconds", message
    monkeypatch.setenv("AIRFLOW_CONN_VNDBJBHF", conn_json(ess_conn, extra={"app_id": "NoSuchApp01"}))
    ok, message = EssHook(ess_conn_id="VNdbJbHF").test_connection()
    assert not ok and "VNdbJbHF" not in message and "extra app_id" in message, message
