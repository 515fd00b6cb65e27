"""Seal operations against the emulator: paging, reuse only of the same seal, lost answers, refused seals."""

from __future__ import annotations

import pytest

from tencent_ess.errors import EssApiError, SealExistsError, SealMismatchError, SealRefusedError
from tencent_ess.hooks import EssHook
from tencent_ess.seals import SealOperations, create_params, differences
from tencent_ess.validation import check_seal_spec
from tests.conftest import agent, conn_json, emulator_state, png_b64


@pytest.fixture
def ops(ess_conn) -> SealOperations:
    return SealOperations(EssHook())


def test_describe_pages_past_100(make_emulator, monkeypatch):
    emulator = make_emulator(rate_limit=0)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    ops = SealOperations(EssHook())
    for i in range(130):
        ops.create_or_reuse(agent(), check_seal_spec(seal_name=f"章{i:03d}", seal_type="OTHER"))
    seals = ops.describe(agent())
    assert len(seals) == 130 and ops.hook.stats["calls.ChannelDescribeOrganizationSeals"] == 2
    assert ops.find(agent(), "章129")["SealName"] == "章129"
    assert ops.find(agent(), "nope") is None


def test_reuse_by_name_refuses_a_seal_of_another_type_and_grants_nothing(ops, ess_conn):
    """Regression (issue 12.1): an OFFICIAL seal named 合同专用章 was "reused" for a CONTRACT request and granted."""
    official = ops.create_or_reuse(agent(), check_seal_spec(seal_name="合同专用章", seal_type="OFFICIAL"))
    with pytest.raises(SealMismatchError) as info:
        ops.create_or_reuse(agent(), check_seal_spec(seal_name="合同专用章", seal_type="CONTRACT"))
    message = str(info.value)
    assert "its type is OFFICIAL, asked for CONTRACT" in message and official.seal_id in message
    assert "Nothing was granted" in message and not info.value.transient
    state = emulator_state(ess_conn)
    assert state["request_counts"].get("ChannelCreateSealPolicy", 0) == 0
    assert [s["seal_type"] for s in state["seals"]] == ["OFFICIAL"]


def test_reuse_of_the_same_seal_returns_it(ops):
    first = ops.create_or_reuse(agent(), check_seal_spec(seal_name="财务章", seal_type="FINANCE"))
    again = ops.create_or_reuse(agent(), check_seal_spec(seal_name="财务章", seal_type="FINANCE"))
    assert (again.seal_id, again.created, first.created) == (first.seal_id, False, True)


@pytest.mark.parametrize(
    "seal, asked, words",
    [
        ({"SealType": "CONTRACT", "RealWidth": 0, "RealHeight": 0}, {}, "made from an uploaded image"),
        (
            {"SealType": "CONTRACT", "RealWidth": 42, "RealHeight": 42},
            {"has_image": True, "generate_source": "", "seal_size": "60_45"},
            "it is 42_42 mm, asked for 60_45 mm",
        ),
        (
            {"SealType": "CONTRACT", "RealWidth": 45, "RealHeight": 45},
            {},
            "45_45 mm circle, asked for a 42_42 mm circle",
        ),
        (
            {"SealType": "OTHER", "RealWidth": 40, "RealHeight": 30},
            {"seal_type": "OTHER"},
            "40_30 mm ellipse, asked for a 42_42 mm circle",
        ),
    ],
)
def test_differences_compare_source_shape_and_size_where_reported(seal, asked, words):
    spec = check_seal_spec(seal_name="章", **asked)
    assert any(words in line for line in differences(spec, seal)), differences(spec, seal)


@pytest.mark.parametrize("size", ["", "42_42"])
def test_an_image_seal_is_the_same_seal_under_both_readings_of_its_size(size):
    """No source says whether an image seal reports 0×0 or its physical size: a re-run over it must reuse it under
    either reading (a drawn seal of that name and size cannot be told apart, and is reused too)."""
    spec = check_seal_spec(seal_name="章", has_image=True, seal_size=size or None)
    for reported in ((0, 0), (42, 42)):
        assert differences(spec, {"SealType": "CONTRACT", "RealWidth": reported[0], "RealHeight": reported[1]}) == []
    assert spec.seal_style == "" and "SealStyle" not in create_params(spec)


def test_an_image_seal_ignores_the_drawn_shapes_rules():
    """SealStyle is ignored for an image seal: an OFFICIAL seal from an image may be given any style, none is sent."""
    spec = check_seal_spec(
        seal_name="章", seal_type="OFFICIAL", seal_style="ellipse", seal_size="60_45", has_image=True
    )
    assert (spec.seal_style, spec.seal_size) == ("", "60_45")


def test_same_seal_has_no_differences_and_unreported_sizes_are_not_guessed():
    spec = check_seal_spec(seal_name="章", seal_type="OTHER", seal_style="ellipse", seal_size="45_30")
    assert differences(spec, {"SealType": "OTHER", "RealWidth": 45, "RealHeight": 30}) == []
    assert differences(spec, {"SealType": "OTHER"}) == []


def test_if_exists_fail_counts_its_own_lost_answer_as_success(ess_conn, monkeypatch):
    """Regression (issue 12.7): the create is applied, its answer lost; the in-call retry meets ExistSameSealName
    for the seal this very call made, which with if_exists='fail' used to fail the task."""
    hook = EssHook(backoff_base=0.01)
    real = hook._call_once
    lost = []

    def lose_the_first_create_answer(action, params):
        response = real(action, params)
        if action == "CreateSealByImage" and not lost:
            lost.append(response["SealId"])
            raise EssApiError(action, "ClientNetworkError", "connection reset by peer")
        return response

    monkeypatch.setattr(hook, "_call_once", lose_the_first_create_answer)
    outcome = SealOperations(hook).create_or_reuse(agent(), check_seal_spec(seal_name="新章"), if_exists="fail")
    assert outcome.seal_id == lost[0] and outcome.created
    assert [s["seal_id"] for s in emulator_state(ess_conn)["seals"]] == lost


def test_if_exists_fail_still_refuses_a_seal_that_was_there_before(ops):
    first = ops.create_or_reuse(agent(), check_seal_spec(seal_name="旧章"))
    with pytest.raises(SealExistsError, match=f"exists already \\(SealId {first.seal_id}\\) and if_exists='fail'"):
        ops.create_or_reuse(agent(), check_seal_spec(seal_name="旧章"), if_exists="fail")


def test_a_refused_seal_is_reported_with_its_status_and_fail_reason(make_emulator, monkeypatch):
    """Regression (issue 12.15): a made-up `FailedOperation.ReviewFailed` code said neither what happened nor
    what to do; the error names the FAIL status, the API's FailReason and the way out."""
    emulator = make_emulator(review_seconds=0)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    ops = SealOperations(EssHook())
    review_fail = agent(org="org_review_fail", operator="f0001")
    spec = check_seal_spec(seal_name="图章", seal_type="OTHER", has_image=True)
    made = ops.create_or_reuse(review_fail, spec, png_b64())
    seal = ops.get(review_fail, made.seal_id)
    with pytest.raises(SealRefusedError) as info:
        ops.grant_missing(review_fail, seal, ["f0001"], "图章")
    message = str(info.value)
    assert "is FAIL: refused in review" in message and seal["FailReason"] in message and seal["FailReason"]
    assert "new seal_name" in message and "ReviewFailed" not in message
    assert "disable the refused seal" not in message, "advice that cannot be followed (issue 25.13)"
    with pytest.raises(EssApiError, match="FailedOperation"):  # why: the API refuses to disable a FAIL seal
        ops.disable(review_fail, made.seal_id)


def test_a_disabled_seal_is_not_advised_to_be_enabled():
    """Regression (issue 25.13): a DISABLE seal said "enable it", but the API has no action to enable a seal."""
    from tencent_ess.errors import SealUnusableError
    from tencent_ess.seals import check_usable

    with pytest.raises(SealUnusableError) as info:
        check_usable({"SealId": "S1", "SealName": "章", "SealStatus": "DISABLE"})
    assert "enable it" not in str(info.value) and "another seal_name" in str(info.value)


def test_if_exists_fail_does_not_claim_a_seal_its_refused_attempt_could_not_have_made(ops, monkeypatch):
    """Review finding: a first attempt refused for rate (never applied), then ExistSameSealName for a seal made
    before the call, was counted as this call's own creation."""
    before = ops.create_or_reuse(agent(), check_seal_spec(seal_name="早就有的章"))
    hook = EssHook(backoff_base=0.01)
    real, refused = hook._call_once, []

    def refuse_the_first_create(action, params):
        if action == "CreateSealByImage" and not refused:
            refused.append(1)
            raise EssApiError(action, "RequestLimitExceeded", "too fast")
        return real(action, params)

    monkeypatch.setattr(hook, "_call_once", refuse_the_first_create)
    with pytest.raises(SealExistsError, match=before.seal_id):
        SealOperations(hook).create_or_reuse(agent(), check_seal_spec(seal_name="早就有的章"), if_exists="fail")


@pytest.mark.parametrize(
    "status, error, words",
    [
        ("STOPPED", "SealUnusableError", "another seal_name"),
        ("VOID", "SealUnusableError", "another seal_name"),
        ("INVALID", "SealUnusableError", "another seal_name"),
        ("FAIL", "SealRefusedError", "new seal_name"),
        ("ARCHIVED", "SealUnusableError", "does not know"),
        ("", "SealUnusableError", "does not know"),
    ],
)
def test_every_status_has_a_meaning_and_an_unknown_one_is_neither_success_nor_refusal(status, error, words):
    """Issue 26.1: the SDKs document CHECKING-SADM, STOPPED, VOID and INVALID too."""
    from tencent_ess import errors
    from tencent_ess.seals import check_usable, in_review

    for waiting in ("CHECKING", "CHECKING-SADM"):
        check_usable({"SealId": "S", "SealStatus": waiting})
        assert in_review(waiting)
    check_usable({"SealId": "S", "SealStatus": "SUCCESS"})
    with pytest.raises(getattr(errors, error), match=words) as info:
        check_usable({"SealId": "S", "SealName": "章", "SealStatus": status})
    assert not info.value.transient and not in_review(status)


@pytest.mark.parametrize(
    "create_on, seconds",
    [
        (1764640000, 1764640000.0),
        (1764640000123, 1764640000.123),
        (163549000069, None),
        (0, None),
        ("x", None),
    ],
)
def test_create_on_in_seconds_or_milliseconds_and_otherwise_unknown(create_on, seconds):
    """Issue 26.4: CreateOn is documented in seconds, an example has 12 digits: unsure is None (the seal existed)."""
    from tencent_ess.seals import create_time

    assert create_time({"CreateOn": create_on}) == (pytest.approx(seconds) if seconds else None)


def test_an_empty_seal_id_from_a_create_is_resolved_by_name_and_spec_never_kept(make_emulator, monkeypatch):
    """Issue 26.3: an old CLI example answers SealId "" for an image seal; it was reported as created with no id."""
    emulator = make_emulator(profiles=["empty-image-id"])
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    ops = SealOperations(EssHook())
    spec = check_seal_spec(seal_name="图章", seal_type="OTHER", has_image=True)
    made = ops.create_or_reuse(agent(), spec, png_b64())
    [seal] = emulator_state(emulator)["seals"]
    assert made.created and made.seal_id == seal["seal_id"] != ""


def test_what_the_comparison_could_not_confirm_about_an_image_seal_is_said():
    from tencent_ess.seals import unconfirmed

    sized = check_seal_spec(seal_name="章", has_image=True, seal_size="60_45")
    plain = check_seal_spec(seal_name="章", has_image=True)
    assert "0x0" in unconfirmed(sized, {"RealWidth": 0, "RealHeight": 0})
    assert unconfirmed(plain, {"RealWidth": 0, "RealHeight": 0}) == ""
    assert "a drawn seal could report too" in unconfirmed(plain, {"RealWidth": 42, "RealHeight": 42})
    assert "no size" in unconfirmed(plain, {})
    assert unconfirmed(check_seal_spec(seal_name="章"), {"RealWidth": 0, "RealHeight": 0}) == ""
