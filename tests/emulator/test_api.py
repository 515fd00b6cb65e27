"""The emulator's actions and errors, driven through the vendor's own SDK client."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from ess_emulator import DEFAULT_FIXTURE
from tests.conftest import APP_ID, ORG, SECRET_KEY, agent, png_b64, png_bytes, sdk_client
from tests.conftest import emulator_state as state


def code_of(client, action: str, params: dict) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        client.call_json(action, params)
    assert info.value.get_request_id(), "every API error carries a RequestId"
    return info.value.get_code()


def system_seal(name: str = "合同专用章", **extra) -> dict:
    return {
        "Agent": agent(),
        "SealName": name,
        "GenerateSource": "SealGenerateSourceSystem",
        "SealType": "CONTRACT",
        **extra,
    }


# ------------------------------------------------------------------ CreateSealByImage
def test_system_seal_is_created_with_a_served_preview(emulator, client):
    resp = client.call_json("CreateSealByImage", system_seal(SealType="FINANCE", SealHorizontalText="横向文字"))[
        "Response"
    ]
    assert len(resp["SealId"]) == 32 and resp["RequestId"]
    preview = requests.get(resp["ImageUrl"], timeout=5)
    assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")
    [seal] = state(emulator)["seals"]
    assert seal["seal_id"] == resp["SealId"] and seal["seal_status"] == "SUCCESS" and seal["seal_type"] == "FINANCE"


def test_request_ids_are_fresh(client):
    a = client.call_json("CreateSealByImage", system_seal("章一"))["Response"]["RequestId"]
    b = client.call_json("CreateSealByImage", system_seal("章二"))["Response"]["RequestId"]
    assert a != b


@pytest.mark.parametrize("style", ["cycle", "circle"])
def test_both_circle_spellings_are_accepted(client, style):
    assert client.call_json("CreateSealByImage", system_seal(SealStyle=style, SealSize="45_45"))["Response"]["SealId"]


def test_invoice_ellipse_as_in_the_seed_example(client):
    params = system_seal("发票专用章", SealType="INVOICE", SealStyle="ellipse", SealSize="40_30")
    assert client.call_json("CreateSealByImage", params)["Response"]["SealId"]


@pytest.mark.parametrize(
    "change, code",
    [
        ({"SealName": ""}, "MissingParameter.SealName"),
        ({"SealName": "章" * 51}, "InvalidParameter.LimitSealName"),
        ({"SealType": "SECRET"}, "InvalidParameter.ParamError"),
        ({"SealStyle": "square"}, "InvalidParameter.ParamError"),
        ({"SealSize": "41_41"}, "InvalidParameter.ParamError"),
        ({"SealStyle": "ellipse", "SealSize": "40_30"}, "InvalidParameter.ParamError"),  # CONTRACT: circles only
        ({"SealSize": "40_30"}, "InvalidParameter.ParamError"),  # ellipse size on a circle
        ({"SealHorizontalText": "字" * 16}, "InvalidParameter.ParamError"),
        ({"GenerateSource": "Magic"}, "InvalidParameter.ParamError"),
        ({"GenerateSource": ""}, "MissingParameter.SealImage"),
        ({"TaxIdentifyCode": "91440300MA5ABCDE1X"}, "InvalidParameter.ParamError"),
        ({"Bogus": 1}, "UnknownParameter"),
        ({"Agent": agent(org="org_nobody")}, "ResourceNotFound.Organization"),
        ({"Agent": agent(org="org_unverified")}, "ResourceNotFound.Organization"),
        ({"Agent": agent(app_id="noSuchApp")}, "ResourceNotFound.Application"),
        ({"Agent": agent(operator="ghost")}, "ResourceNotFound.VerifyUser"),
        ({"Agent": agent(operator="unverified01")}, "ResourceNotFound.VerifyUser"),
        ({"Agent": {"AppId": APP_ID, "ProxyOperator": {"OpenId": "n9527"}}}, "MissingParameter.OrganizationId"),
    ],
)
def test_create_rules(emulator, client, change, code):
    assert code_of(client, "CreateSealByImage", {**system_seal(), **change}) == code
    assert state(emulator)["seals"] == []


@pytest.mark.parametrize(
    "image",
    [
        base64.b64encode(b"just some text, not an image").decode(),
        base64.b64encode(png_bytes()[:60]).decode(),  # truncated PNG
        base64.b64encode(png_bytes(fmt="GIF")).decode(),  # decodes, but not PNG/JPG
        "@@not-base64@@",
    ],
    ids=["text", "truncated-png", "gif", "not-base64"],
)
def test_bad_images_are_invalid_parameter_image(client, image):
    params = {"Agent": agent(), "SealName": "人事专用章", "SealType": "PERSONNEL", "SealImage": image}
    assert code_of(client, "CreateSealByImage", params) == "InvalidParameter.Image"


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels (a few hundred bytes: a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def test_an_image_bomb_is_invalid_parameter_image(emulator, client):
    """Pillow refuses 30000 x 30000 pixels with DecompressionBombError: an answer, not a dropped connection."""
    params = {
        "Agent": agent(),
        "SealName": "炸弹",
        "SealType": "OTHER",
        "SealImage": base64.b64encode(png_claiming(30000, 30000)).decode(),
    }
    assert code_of(client, "CreateSealByImage", params) == "InvalidParameter.Image"
    assert state(emulator)["seals"] == []


def test_raw_image_over_5mb_is_refused(client):
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024)).decode()
    params = {"Agent": agent(), "SealName": "大图", "SealType": "OTHER", "SealImage": big}
    assert code_of(client, "CreateSealByImage", params) == "InvalidParameter.Image"


def test_body_over_10mb_is_request_size_limit_exceeded(client):
    params = {"Agent": agent(), "SealName": "超大", "SealType": "OTHER", "SealImage": "A" * (10 * 1024 * 1024 + 10)}
    assert code_of(client, "CreateSealByImage", params) == "RequestSizeLimitExceeded"


def test_image_seal_and_system_seal_together_is_refused(client):
    assert code_of(client, "CreateSealByImage", system_seal(SealImage=png_b64())) == "InvalidParameter.ParamError"


def test_same_name_is_refused_and_one_official_per_enterprise(emulator, client):
    client.call_json("CreateSealByImage", system_seal("公章", SealType="OFFICIAL"))
    assert (
        code_of(client, "CreateSealByImage", system_seal("公章", SealType="OFFICIAL"))
        == "FailedOperation.ExistSameSealName"
    )
    assert (
        code_of(client, "CreateSealByImage", system_seal("另一个公章", SealType="OFFICIAL"))
        == "OperationDenied.AlreadyHas"
    )
    assert len(state(emulator)["seals"]) == 1


def test_image_seal_is_reviewed_after_review_seconds(make_emulator):
    emulator = make_emulator(review_seconds=0.6)
    client = sdk_client(emulator.endpoint)
    params = {"Agent": agent(), "SealName": "人事专用章", "SealType": "PERSONNEL", "SealImage": png_b64()}
    resp = client.call_json("CreateSealByImage", params)["Response"]
    assert resp["ImageUrl"] == ""
    assert state(emulator)["seals"][0]["seal_status"] == "CHECKING"
    time.sleep(0.7)
    assert state(emulator)["seals"][0]["seal_status"] == "SUCCESS"


def test_review_fail_from_fixture_reports_a_reason(client):
    params = {
        "Agent": agent(org="org_review_fail", operator="f0001"),
        "SealName": "印章",
        "SealType": "OTHER",
        "SealImage": png_b64(),
    }
    seal_id = client.call_json("CreateSealByImage", params)["Response"]["SealId"]
    described = client.call_json(
        "ChannelDescribeOrganizationSeals", {"Agent": params["Agent"], "SealId": seal_id, "SealStatuses": ["ALL"]}
    )["Response"]
    assert described["Seals"][0]["SealStatus"] == "FAIL" and described["Seals"][0]["FailReason"]


# ------------------------------------------------------------------ ChannelCreateSealPolicy
def test_grant_skips_already_authorized_and_answers_ids_as_sent(emulator, client):
    seal_id = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    first = client.call_json(
        "ChannelCreateSealPolicy", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527", "n9528"]}
    )
    assert first["Response"]["UserIds"] == ["n9527", "n9528"]
    # n9528 again by its 32-char UserId is the same person: skipped; n9529 is new.
    second = client.call_json(
        "ChannelCreateSealPolicy",
        {"Agent": agent(), "SealId": seal_id, "UserIds": ["yDwi8UUckpo5z4omUyleFeZeadKwB2Hm", "n9529"]},
    )
    assert second["Response"]["UserIds"] == ["n9529"]
    assert state(emulator)["seals"][0]["authorized_user_ids"] == ["n9527", "n9528", "n9529"]
    described = client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "InfoType": 1})["Response"]
    assert [u["OpenId"] for u in described["Seals"][0]["AuthorizedUsers"]] == ["n9527", "n9528", "n9529"]


@pytest.mark.parametrize(
    "seal_id, users, code, message",
    [
        ("", ["n9527"], "InvalidParameter.ParamError", "缺失印章ID"),
        (None, ["nobody"], "InvalidParameter.ParamError", "无效的授权用户Id"),
        (None, ["bad-id!"], "InvalidParameter.ParamError", "无效的授权用户Id"),
        (None, [], "InvalidParameter.ParamError", None),
        ("yDRTZxxxxxJNRnotarealsealid00000", ["n9527"], "ResourceNotFound", None),
    ],
)
def test_grant_errors(client, seal_id, users, code, message):
    real = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    with pytest.raises(TencentCloudSDKException) as info:
        client.call_json(
            "ChannelCreateSealPolicy",
            {"Agent": agent(), "SealId": real if seal_id is None else seal_id, "UserIds": users},
        )
    assert info.value.get_code() == code
    if message:
        assert info.value.get_message() == message


def test_grant_on_a_seal_under_review_is_refused(make_emulator):
    emulator = make_emulator(review_seconds=30)
    client = sdk_client(emulator.endpoint)
    seal_id = client.call_json(
        "CreateSealByImage", {"Agent": agent(), "SealName": "审核中", "SealType": "OTHER", "SealImage": png_b64()}
    )["Response"]["SealId"]
    assert (
        code_of(client, "ChannelCreateSealPolicy", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527"]})
        == "InvalidParameter.ParamError"
    )


def test_delete_policies_revokes(emulator, client):
    seal_id = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    client.call_json("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527", "n9528"]})
    client.call_json("ChannelDeleteSealPolicies", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527"]})
    assert state(emulator)["seals"][0]["authorized_user_ids"] == ["n9528"]


def test_delete_policies_through_the_sdks_typed_request(emulator, client):
    """The SDK's own request class serializes only the parameters it defines: the names must be those."""
    from tencentcloud.essbasic.v20210526 import models

    seal_id = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    client.call_json("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527", "n9528"]})
    request = models.ChannelDeleteSealPoliciesRequest()
    request.from_json_string(
        json.dumps({"Agent": agent(), "SealId": seal_id, "UserIds": ["yDwi8UUckpo5z4omUyleFeZeadKwB2Hm"]})
    )  # n9528's UserId
    response = client.ChannelDeleteSealPolicies(request)
    assert response.RequestId
    assert state(emulator)["seals"][0]["authorized_user_ids"] == ["n9527"]


def test_revoking_a_user_who_does_not_hold_the_seal_succeeds_and_changes_nothing(emulator, client):
    seal_id = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    client.call_json("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527"]})
    answer = client.call_json(
        "ChannelDeleteSealPolicies", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9528", "n9528"]}
    )["Response"]
    assert set(answer) == {"RequestId"}  # RequestId only
    assert state(emulator)["seals"][0]["authorized_user_ids"] == ["n9527"]


@pytest.mark.parametrize(
    "change, code, message",
    [
        ({"SealId": ""}, "InvalidParameter.ParamError", "缺失印章ID"),
        ({"SealId": "yDRTZxxxxxJNRnotarealsealid00000"}, "ResourceNotFound", None),
        ({"UserIds": []}, "InvalidParameter.ParamError", None),
        ({"UserIds": ["bad-id!"]}, "InvalidParameter.ParamError", "无效的授权用户Id"),
        ({"UserIds": ["n9528", "nobody"]}, "InvalidParameter.ParamError", "无效的授权用户Id"),  # nothing revoked
        ({"Bogus": 1}, "UnknownParameter", None),
        ({"Agent": agent(operator="ghost")}, "ResourceNotFound.VerifyUser", None),
    ],
)
def test_delete_policies_errors(emulator, client, change, code, message):
    seal_id = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    client.call_json("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527", "n9528"]})
    with pytest.raises(TencentCloudSDKException) as info:
        client.call_json(
            "ChannelDeleteSealPolicies", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527"], **change}
        )
    assert info.value.get_code() == code
    if message:
        assert info.value.get_message() == message
    assert state(emulator)["seals"][0]["authorized_user_ids"] == ["n9527", "n9528"]


# ------------------------------------------------------------------ ChannelUpdateSealStatus
def disable(client, seal_id: str, **extra) -> dict:
    return client.call_json(
        "ChannelUpdateSealStatus",
        {"Agent": agent(), "SealId": seal_id, "Status": "DISABLE", "Reason": "印章停用", **extra},
    )["Response"]


def statuses_listed(client, seal_statuses: list[str] | None) -> list[tuple[str, str]]:
    params = {"Agent": agent(), **({"SealStatuses": seal_statuses} if seal_statuses is not None else {})}
    seals = client.call_json("ChannelDescribeOrganizationSeals", params)["Response"]["Seals"]
    return [(s["SealName"], s["SealStatus"]) for s in seals]


def test_a_disabled_seal_lists_as_disable_only_and_cannot_be_granted(client):
    from tencentcloud.essbasic.v20210526 import models

    kept = client.call_json("CreateSealByImage", system_seal("在用章"))["Response"]["SealId"]
    stopped = client.call_json("CreateSealByImage", system_seal("停用章"))["Response"]["SealId"]
    client.call_json("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": stopped, "UserIds": ["n9527"]})
    request = models.ChannelUpdateSealStatusRequest()
    request.from_json_string(json.dumps({"Agent": agent(), "SealId": stopped, "Status": "DISABLE", "Reason": "停用"}))
    response = client.ChannelUpdateSealStatus(request)  # the SDK's typed request: its parameter names
    assert (response.SealOperatorVerifyPath, response.SealOperatorVerifyQrcodeUrl) == ("", "") and response.RequestId

    assert statuses_listed(client, None) == [("在用章", "SUCCESS")]  # empty SealStatuses: enabled seals only
    assert statuses_listed(client, ["SUCCESS"]) == [("在用章", "SUCCESS")]
    assert statuses_listed(client, ["DISABLE"]) == [("停用章", "DISABLE")]
    assert statuses_listed(client, ["ALL"]) == [("在用章", "SUCCESS"), ("停用章", "DISABLE")]
    assert (
        code_of(client, "ChannelCreateSealPolicy", {"Agent": agent(), "SealId": stopped, "UserIds": ["n9528"]})
        == "InvalidParameter.ParamError"
    )
    assert client.call_json("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": kept, "UserIds": ["n9528"]})
    # revoking from a disabled seal is allowed: it only takes a permission away
    client.call_json("ChannelDeleteSealPolicies", {"Agent": agent(), "SealId": stopped, "UserIds": ["n9527"]})


def test_disabling_a_disabled_seal_succeeds_and_changes_nothing(emulator, client):
    seal_id = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    disable(client, seal_id)
    assert disable(client, seal_id, Reason="again")["SealOperatorVerifyPath"] == ""
    assert [s["seal_status"] for s in state(emulator)["seals"]] == ["DISABLE"]


def test_a_disabled_official_seal_still_counts_as_the_official_seal(client):
    seal_id = client.call_json("CreateSealByImage", system_seal("公章", SealType="OFFICIAL"))["Response"]["SealId"]
    disable(client, seal_id)
    assert (
        code_of(client, "CreateSealByImage", system_seal("新公章", SealType="OFFICIAL")) == "OperationDenied.AlreadyHas"
    )


@pytest.mark.parametrize(
    "change, code",
    [
        ({"Status": "ENABLE"}, "InvalidParameter.ParamError"),
        ({"Status": "disable"}, "InvalidParameter.ParamError"),
        ({"Status": ""}, "MissingParameter"),
        ({"SealId": ""}, "InvalidParameter.ParamError"),
        ({"SealId": "yDRTZxxxxxJNRnotarealsealid00000"}, "ResourceNotFound"),
        ({"Reason": 5}, "InvalidParameter.ParamError"),
        ({"Options": [{"Key": "k"}, "v"]}, "InvalidParameter.ParamError"),
        ({"Bogus": 1}, "UnknownParameter"),
        ({"Agent": agent(org="org_nobody")}, "ResourceNotFound.Organization"),
    ],
)
def test_update_seal_status_errors(emulator, client, change, code):
    seal_id = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    params = {"Agent": agent(), "SealId": seal_id, "Status": "DISABLE", "Reason": "停用", **change}
    assert code_of(client, "ChannelUpdateSealStatus", params) == code
    assert [s["seal_status"] for s in state(emulator)["seals"]] == ["SUCCESS"]


def test_update_seal_status_accepts_well_formed_options_and_no_reason(emulator, client):
    seal_id = client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    client.call_json(
        "ChannelUpdateSealStatus",
        {"Agent": agent(), "SealId": seal_id, "Status": "DISABLE", "Options": [{"Key": "k", "Value": "v"}]},
    )
    assert [s["seal_status"] for s in state(emulator)["seals"]] == ["DISABLE"]


@pytest.mark.parametrize(
    "org, operator, review_seconds, status", [(ORG, "n9527", 60, "CHECKING"), ("org_review_fail", "f0001", 0, "FAIL")]
)
def test_only_an_enabled_seal_can_be_disabled(make_emulator, org, operator, review_seconds, status):
    emulator = make_emulator(review_seconds=review_seconds)
    client = sdk_client(emulator.endpoint)
    who = agent(org=org, operator=operator)
    seal_id = client.call_json(
        "CreateSealByImage", {"Agent": who, "SealName": "图片章", "SealType": "OTHER", "SealImage": png_b64()}
    )["Response"]["SealId"]
    params = {"Agent": who, "SealId": seal_id, "Status": "DISABLE"}
    assert code_of(client, "ChannelUpdateSealStatus", params) == "FailedOperation"
    assert [s["seal_status"] for s in state(emulator)["seals"]] == [status]


# ------------------------------------------------------------------ ChannelDescribeOrganizationSeals
def test_describe_pages_and_filters_statuses(make_emulator):
    emulator = make_emulator(review_seconds=60)
    client = sdk_client(emulator.endpoint)
    for i in range(5):
        client.call_json("CreateSealByImage", system_seal(f"章{i}", SealType="OTHER"))
    client.call_json(
        "CreateSealByImage", {"Agent": agent(), "SealName": "审核中", "SealType": "OTHER", "SealImage": png_b64()}
    )
    enabled = client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 100})["Response"]
    assert enabled["TotalCount"] == 5  # empty SealStatuses = enabled seals only: the CHECKING one is missed
    page = client.call_json(
        "ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 2, "Offset": 4, "SealStatuses": ["ALL"]}
    )["Response"]
    assert page["TotalCount"] == 6 and [s["SealName"] for s in page["Seals"]] == ["章4", "审核中"]
    assert (
        code_of(client, "ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 0})
        == "InvalidParameter.ParamError"
    )


def test_describe_is_as_lenient_as_the_demo_kit_shows(make_emulator):
    """Limit above 100 is served as 100; InfoType 0 (and any but 1) answers AuthorizedUsers []; the SealTypes filter
    takes LEGAL_PERSON_SEAL, EMPLOYEE_QUALIFICATION_SEAL and OTHER_…"""
    client = sdk_client(make_emulator(rate_limit=0).endpoint)
    for i in range(102):
        client.call_json("CreateSealByImage", system_seal(f"章{i}", SealType="OTHER"))
    seal_id = client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 1})["Response"]["Seals"][
        0
    ]["SealId"]
    client.call_json("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9528"]})
    page = client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 1000})["Response"]
    assert page["TotalCount"] == 102 and len(page["Seals"]) == 100
    for info_type in (0, 2):
        first = client.call_json(
            "ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 1, "InfoType": info_type}
        )["Response"]["Seals"][0]
        assert first["SealId"] == seal_id and first["AuthorizedUsers"] == []
    first = client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 1, "InfoType": 1})[
        "Response"
    ]["Seals"][0]
    assert first["AuthorizedUsers"] == [{"OpenId": "n9528"}]
    for types in (["LEGAL_PERSON_SEAL"], ["EMPLOYEE_QUALIFICATION_SEAL"], ["OTHER_XX"]):
        assert (
            client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "SealTypes": types})["Response"][
                "TotalCount"
            ]
            == 0
        )
    assert (
        code_of(client, "ChannelDescribeOrganizationSeals", {"Agent": agent(), "SealTypes": ["NOT_A_TYPE"]})
        == "InvalidParameter.ParamError"
    )


def test_describe_reports_what_each_seal_is(client):
    """RealWidth/RealHeight (mm, from SealSize; 0 for an image seal) and SealDescription, as the SDK's OccupiedSeal."""
    from tencentcloud.essbasic.v20210526 import models

    client.call_json("CreateSealByImage", system_seal("圆章", SealSize="45_45", SealDescription="用于合同"))
    client.call_json("CreateSealByImage", system_seal("默认章"))
    client.call_json(
        "CreateSealByImage", system_seal("椭圆章", SealType="FINANCE", SealStyle="ellipse", SealSize="45_30")
    )
    client.call_json(
        "CreateSealByImage",
        {
            "Agent": agent(),
            "SealName": "图片章",
            "SealType": "OTHER",
            "SealImage": png_b64(),
            "SealDescription": "上传的图片",
        },
    )
    raw = client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "SealStatuses": ["ALL"]})["Response"]
    parsed = models.ChannelDescribeOrganizationSealsResponse()
    parsed._deserialize(raw)  # the SDK's own model: the field names must be its names
    assert [(s.SealName, s.RealWidth, s.RealHeight, s.SealDescription) for s in parsed.Seals] == [
        ("圆章", 45, 45, "用于合同"),
        ("默认章", 42, 42, ""),
        ("椭圆章", 45, 30, ""),
        ("图片章", 0, 0, "上传的图片"),
    ]


@pytest.mark.parametrize("size, real", [("", (0, 0)), ("60_45", (0, 0))])
def test_an_image_seal_takes_a_custom_size_and_ignores_the_style(emulator, client, size, real):
    """For an image seal SealSize is W_H in mm (10-100, aspect 0.1-10) and SealStyle is ignored (Go SDK v1.3.143)."""
    params = {
        "Agent": agent(),
        "SealName": "图片章",
        "SealType": "CONTRACT",
        "SealImage": png_b64(),
        "SealStyle": "ellipse",
        **({"SealSize": size} if size else {}),
    }
    assert client.call_json("CreateSealByImage", params)["Response"]["SealId"]
    [seal] = client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "SealStatuses": ["ALL"]})[
        "Response"
    ]["Seals"]
    assert (seal["RealWidth"], seal["RealHeight"]) == real


@pytest.mark.parametrize("size", ["9_40", "40_101", "abc", "40x40", "40_40_40", "0_0"])
def test_an_image_seal_size_out_of_range_is_refused(emulator, client, size):
    params = {"Agent": agent(), "SealName": "图片章", "SealType": "OTHER", "SealImage": png_b64(), "SealSize": size}
    assert code_of(client, "CreateSealByImage", params) == "InvalidParameter.ParamError"
    assert state(emulator)["seals"] == []


def test_under_the_image_size_profile_an_image_seal_reports_its_physical_size(make_emulator):
    client = sdk_client(make_emulator(profiles=["image-size"]).endpoint)
    for name, extra in (("自定尺寸", {"SealSize": "60_45"}), ("默认尺寸", {})):
        client.call_json(
            "CreateSealByImage",
            {"Agent": agent(), "SealName": name, "SealType": "OTHER", "SealImage": png_b64(), **extra},
        )
    seals = client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent(), "SealStatuses": ["ALL"]})[
        "Response"
    ]["Seals"]
    assert [(s["SealName"], s["RealWidth"], s["RealHeight"]) for s in seals] == [
        ("自定尺寸", 60, 45),
        ("默认尺寸", 42, 42),
    ]


def test_under_the_no_query_permission_profile_every_describe_is_refused(make_emulator):
    client = sdk_client(make_emulator(profiles=["no-query-permission"]).endpoint)
    assert client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    assert (
        code_of(client, "ChannelDescribeOrganizationSeals", {"Agent": agent()})
        == "OperationDenied.OperatorHasNoPermission"
    )


def test_newer_fields_are_accepted_and_answered(emulator, client):
    """SubSealType (OTHER, system-drawn), Options SealOperatorVerify / CreateSealPreview, and the answers' newer
    fields, as the SDK's models name them."""
    from tencentcloud.essbasic.v20210526 import models

    verify = [{"Key": "SealOperatorVerify", "Value": "true"}]
    raw = client.call_json(
        "CreateSealByImage", system_seal("其他章", SealType="OTHER", SubSealType="CONTRACT_SEAL", Options=verify)
    )["Response"]
    parsed = models.CreateSealByImageResponse()
    parsed._deserialize(raw)
    assert parsed.SealId and parsed.SealOperatorVerifyPath and parsed.SealOperatorVerifyQrcodeUrl
    assert parsed.PreviewFileUrl == "" and parsed.PreviewPdfUrl == ""
    granted = client.call_json(
        "ChannelCreateSealPolicy", {"Agent": agent(), "SealId": parsed.SealId, "UserIds": ["n9528"], "Options": verify}
    )["Response"]
    assert granted["UserIds"] == ["n9528"] and granted["SealOperatorVerifyQrcodeUrl"]
    plain = client.call_json("CreateSealByImage", system_seal("普通章"))["Response"]
    assert plain["SealOperatorVerifyPath"] == plain["SealOperatorVerifyQrcodeUrl"] == ""
    preview = client.call_json(
        "CreateSealByImage", system_seal("预览章", Options=[{"Key": "CreateSealPreview", "Value": "true"}])
    )["Response"]
    assert preview["SealId"] == "" and preview["PreviewFileUrl"] and preview["PreviewPdfUrl"]
    assert sorted(s["seal_name"] for s in state(emulator)["seals"]) == ["其他章", "普通章"], "a preview makes no seal"
    for extra in (
        {"SubSealType": "X"},
        {"SubSealType": "X", "SealType": "OTHER", "GenerateSource": "", "SealImage": png_b64()},
    ):
        assert code_of(client, "CreateSealByImage", system_seal("子类型", **extra)) == "InvalidParameter.ParamError"


def test_an_invoice_seal_of_an_enterprise_verified_by_letter_needs_its_tax_code(tmp_path, make_emulator):
    fixture = json.loads(DEFAULT_FIXTURE.read_text(encoding="utf-8"))
    fixture["apps"][0]["organizations"][0]["authorization_letter"] = True
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture), encoding="utf-8")
    client = sdk_client(make_emulator(fixtures=path).endpoint)
    invoice = system_seal("发票专用章", SealType="INVOICE", SealStyle="ellipse", SealSize="40_30")
    assert code_of(client, "CreateSealByImage", invoice) == "MissingParameter"
    assert client.call_json("CreateSealByImage", {**invoice, "TaxIdentifyCode": "91440300MA5ABCDE1X"})["Response"][
        "SealId"
    ]


def test_seal_description_must_be_text(client):
    assert (
        code_of(client, "CreateSealByImage", system_seal(SealDescription=["not", "text"]))
        == "InvalidParameter.ParamError"
    )


# ------------------------------------------------------------------ transport and auth
def test_unknown_action_and_wrong_version(emulator, client):
    assert code_of(client, "DescribeNothing", {"Agent": agent()}) == "InvalidAction"
    old = sdk_client(emulator.endpoint)
    old._apiVersion = "2020-01-01"
    assert code_of(old, "CreateSealByImage", system_seal()) == "NoSuchVersion"


def test_auth_failures(emulator):
    assert (
        code_of(sdk_client(emulator.endpoint, secret_id="AKIDunknown"), "CreateSealByImage", system_seal())
        == "AuthFailure.SecretIdNotFound"
    )
    assert (
        code_of(sdk_client(emulator.endpoint, secret_key="wrong-key"), "CreateSealByImage", system_seal())
        == "AuthFailure.SignatureFailure"
    )


def test_clock_skew_is_signature_expire(emulator, monkeypatch):
    import tencentcloud.common.abstract_client as ac

    class Skewed:
        @staticmethod
        def time() -> float:
            return time.time() - 301

    monkeypatch.setattr(ac, "time", Skewed)
    assert code_of(sdk_client(emulator.endpoint), "CreateSealByImage", system_seal()) == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize("authorization", [None, "TC3-HMAC-SHA256 garbage"])
def test_missing_or_malformed_authorization(emulator, authorization):
    headers = {
        "Content-Type": "application/json",
        "X-TC-Action": "CreateSealByImage",
        "X-TC-Version": "2021-05-26",
        "X-TC-Timestamp": str(int(time.time())),
    }
    if authorization:
        headers["Authorization"] = authorization
    resp = requests.post(emulator.url + "/", data=json.dumps(system_seal()), headers=headers, timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert resp.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_content_type_is_exactly_application_json(emulator, client):
    headers = {"X-TC-Action": "Nope", "X-TC-Version": "2021-05-26"}
    resp = requests.post(emulator.url + "/", data="{}", headers=headers, timeout=5)
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json()["Response"]["RequestId"]


def test_rate_limit_per_action(make_emulator):
    emulator = make_emulator(rate_limit=5)
    client = sdk_client(emulator.endpoint)
    codes = []
    for _ in range(8):
        try:
            client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent()})
            codes.append("ok")
        except TencentCloudSDKException as err:
            codes.append(err.get_code())
    assert codes.count("ok") == 5 and codes.count("RequestLimitExceeded") == 3
    # another action has its own budget
    assert client.call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    time.sleep(1.05)
    assert client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent()})["Response"]["TotalCount"] == 1
    assert state(emulator)["rate_limited"]["ChannelDescribeOrganizationSeals"] == 3


# ------------------------------------------------------------------ faults
@pytest.mark.parametrize(
    "kind, sdk_code, applied",
    [
        ("internal", "InternalError.System", False),
        ("http5xx", "ServerNetworkError", False),
        ("drop_before", "ClientNetworkError", False),
        ("drop_after", "ClientNetworkError", True),
        ("slow", "ClientNetworkError", True),  # client timeout 1 s < slow 2 s; the server still applies it
    ],
)
def test_each_fault_kind(make_emulator, kind, sdk_code, applied):
    emulator = make_emulator(faults={kind: 1.0}, seed=7, slow_seconds=2.0)
    client = sdk_client(emulator.endpoint, timeout=1)
    assert code_of_any(client, system_seal()) == sdk_code
    if kind == "slow":
        time.sleep(1.5)
    observed = state(emulator)
    assert observed["faults_injected"] == {kind: 1}
    assert len(observed["seals"]) == (1 if applied else 0)


def code_of_any(client, params) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        client.call_json("CreateSealByImage", params)
    return info.value.get_code()


def test_faults_are_reproducible_with_a_seed(make_emulator):
    runs = []
    for _ in range(2):
        emulator = make_emulator(faults={"internal": 0.5}, seed=42)
        client = sdk_client(emulator.endpoint)
        outcome = []
        for _ in range(12):
            try:
                client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent()})
                outcome.append("ok")
            except TencentCloudSDKException as err:
                outcome.append(err.get_code())
        runs.append(outcome)
    assert runs[0] == runs[1] and "InternalError.System" in runs[0] and "ok" in runs[0]


def test_faults_never_touch_the_inspection_endpoint(make_emulator):
    emulator = make_emulator(faults={"http5xx": 1.0})
    assert all(requests.get(emulator.url + "/_emulator/state", timeout=5).status_code == 200 for _ in range(5))


# ------------------------------------------------------------------ concurrency and durability
def test_concurrent_creates_of_one_name_leave_one_seal(make_emulator):
    emulator = make_emulator(rate_limit=0)

    def create(_):
        try:
            return sdk_client(emulator.endpoint).call_json("CreateSealByImage", system_seal("抢注"))["Response"][
                "SealId"
            ]
        except TencentCloudSDKException as err:
            return err.get_code()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(create, range(32)))
    assert sum(len(r) == 32 for r in results) == 1
    assert results.count("FailedOperation.ExistSameSealName") == 31
    assert len(state(emulator)["seals"]) == 1


def test_state_survives_a_restart(make_emulator, tmp_path):
    db = tmp_path / "ess.db"
    first = make_emulator(db=db)
    seal_id = sdk_client(first.endpoint).call_json("CreateSealByImage", system_seal())["Response"]["SealId"]
    first.close()
    second = make_emulator(db=db)
    assert [s["seal_id"] for s in state(second)["seals"]] == [seal_id]
    assert (
        code_of(sdk_client(second.endpoint), "CreateSealByImage", system_seal()) == "FailedOperation.ExistSameSealName"
    )


def test_output_never_holds_the_secret_key(emulator, client, caplog):
    caplog.set_level("DEBUG")
    client.call_json(
        "CreateSealByImage", {"Agent": agent(), "SealName": "图", "SealType": "OTHER", "SealImage": png_b64()}
    )
    code_of(sdk_client(emulator.endpoint, secret_key="wrong"), "CreateSealByImage", system_seal())
    dumped = json.dumps(state(emulator), ensure_ascii=False)
    emulator_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ess_emulator"))
    assert emulator_logs, "the emulator logged nothing, so the search below would prove nothing"
    for text in (dumped, emulator_logs):
        assert SECRET_KEY not in text and png_b64()[:40] not in text


def test_sigkilled_process_loses_nothing_it_answered(tmp_path):
    """`python -m ess_emulator` killed with SIGKILL, restarted on the same --db: every answered create is there."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT, SECRET_ID

    def start():
        env = {**os.environ, "ESS_EMULATOR_SECRET_ID": SECRET_ID, "ESS_EMULATOR_SECRET_KEY": SECRET_KEY}
        proc = subprocess.Popen(
            [sys.executable, "-m", "ess_emulator", "--port", "0", "--db", str(tmp_path / "k.db")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = proc.stdout.readline()
        assert "listening on http://" in line, proc.stderr.read()
        return proc, line.rsplit("http://", 1)[1].strip()

    proc, endpoint = start()
    client = sdk_client(endpoint)
    created = [
        client.call_json("CreateSealByImage", system_seal(f"章{i}", SealType="OTHER"))["Response"]["SealId"]
        for i in range(20)
    ]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc, endpoint = start()
    try:
        seals = requests.get(f"http://{endpoint}/_emulator/state", timeout=5).json()["seals"]
        assert [s["seal_id"] for s in seals] == created
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert SECRET_KEY not in out + err
