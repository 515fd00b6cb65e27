"""EssSealReviewTrigger: serialize() round trip, and run()'s one event for each way a review ends."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from tencent_ess.errors import EssApiError
from tencent_ess.triggers import EssSealReviewTrigger

KWARGS = {
    "seal_id": "S1",
    "proxy_organization_open_id": "org_dianziqian",
    "operator_open_id": "n9527",
    "app_id": None,
    "ess_conn_id": "tencentcloud_ess_default",
    "poll_interval": 0.01,
}


def first_event(trigger: EssSealReviewTrigger) -> dict:
    async def take():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(asyncio.wait_for(take(), timeout=10))


def test_serialize_round_trips_and_carries_no_secret():
    trigger = EssSealReviewTrigger(**KWARGS)
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name) is EssSealReviewTrigger
    assert kwargs == KWARGS
    assert EssSealReviewTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    "answers, expected",
    [
        ([("CHECKING", ""), ("SUCCESS", "")], {"status": "success", "seal_status": "SUCCESS", "fail_reason": ""}),
        (
            [("CHECKING", ""), ("FAIL", "图片不清晰")],
            {"status": "failed", "seal_status": "FAIL", "fail_reason": "图片不清晰"},
        ),
        ([("DISABLE", "")], {"status": "failed", "seal_status": "DISABLE", "fail_reason": ""}),
        # issue 26.1: the super-admin's review is still a review; an unknown status ends the wait, never as success
        (
            [("CHECKING", ""), ("CHECKING-SADM", ""), ("SUCCESS", "")],
            {"status": "success", "seal_status": "SUCCESS", "fail_reason": ""},
        ),
        ([("CHECKING", ""), ("ARCHIVED", "")], {"status": "failed", "seal_status": "ARCHIVED", "fail_reason": ""}),
    ],
)
def test_run_fires_once_the_review_is_decided(monkeypatch, answers, expected):
    trigger = EssSealReviewTrigger(**KWARGS)
    calls = iter(answers)
    monkeypatch.setattr(trigger, "_check", lambda: next(calls))
    assert first_event(trigger) == {"seal_id": "S1", **expected}


def test_transient_errors_are_polled_through(monkeypatch):
    trigger = EssSealReviewTrigger(**KWARGS)
    answers = iter(
        [
            EssApiError("ChannelDescribeOrganizationSeals", "InternalError.System", "busy"),
            EssApiError("ChannelDescribeOrganizationSeals", "RequestLimitExceeded", "slow down"),
            ("SUCCESS", ""),
        ]
    )

    def check():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(trigger, "_check", check)
    assert first_event(trigger)["status"] == "success"


@pytest.mark.parametrize(
    "error, words",
    [
        (EssApiError("ChannelDescribeOrganizationSeals", "AuthFailure.SignatureFailure", "签名错误"), "AuthFailure"),
        (RuntimeError("the SDK broke"), "RuntimeError: the SDK broke"),
    ],
)
def test_permanent_or_unexpected_errors_end_the_wait_with_an_error_event(monkeypatch, error, words):
    trigger = EssSealReviewTrigger(**KWARGS)

    def check():
        raise error

    monkeypatch.setattr(trigger, "_check", check)
    event = first_event(trigger)
    assert event["status"] == "error" and words in event["fail_reason"]


def test_one_hook_serves_every_poll(ess_conn):
    trigger = EssSealReviewTrigger(**KWARGS)
    assert trigger.hook is trigger.hook
