"""The model (`ess_emulator.models`) on its own: typed methods, no HTTP, no JSON."""

from __future__ import annotations

import pytest
from ess_emulator import DEFAULT_FIXTURE
from ess_emulator.exceptions import (
    EssError,
    OfficialSealExists,
    OperatorNotFound,
    OrganizationNotFound,
    ParamError,
    SealNameExists,
    SealNotFound,
)
from ess_emulator.fixtures import Fixture
from ess_emulator.models import EssBackend, SealSpec

from tests.conftest import APP_ID, OPERATOR, ORG, png_bytes


@pytest.fixture
def backend(tmp_path):
    backend = EssBackend(str(tmp_path / "m.db"), Fixture.load(DEFAULT_FIXTURE))
    yield backend
    backend.close()


@pytest.fixture
def me(backend):
    return backend.agent(APP_ID, ORG, OPERATOR)


def system(name: str = "合同专用章", **extra) -> SealSpec:
    return SealSpec(name=name, seal_type=extra.pop("seal_type", "CONTRACT"), generate_source="SealGenerateSourceSystem",
                    **extra)


def test_error_classes_carry_the_api_code():
    assert SealNameExists.code == "FailedOperation.ExistSameSealName" and SealNameExists().message
    error = ParamError("缺失印章ID")
    assert isinstance(error, EssError) and (error.code, error.message) == ("InvalidParameter.ParamError", "缺失印章ID")


def test_agent_resolution(backend):
    with pytest.raises(OrganizationNotFound):
        backend.agent(APP_ID, "org_unverified", OPERATOR)
    with pytest.raises(OperatorNotFound):
        backend.agent(APP_ID, ORG, "ghost")
    assert backend.agent(APP_ID, ORG, OPERATOR).organization.open_id == ORG


def test_create_defaults_and_rules(backend, me):
    seal = backend.create_seal(me, system())
    assert (seal.style, seal.size, seal.status, seal.from_image) == ("circle", "42_42", "SUCCESS", False)
    assert backend.create_seal(me, system("椭圆", seal_type="OTHER", style="ellipse")).size == "40_30"
    with pytest.raises(SealNameExists):
        backend.create_seal(me, system())
    backend.create_seal(me, system("公章", seal_type="OFFICIAL"))
    with pytest.raises(OfficialSealExists):
        backend.create_seal(me, system("公章二", seal_type="OFFICIAL"))
    with pytest.raises(ParamError):
        backend.create_seal(me, SealSpec(name="两者", seal_type="OTHER", generate_source="SealGenerateSourceSystem",
                                         image=png_bytes()))


def test_grant_then_revoke(backend, me):
    seal = backend.create_seal(me, system())
    assert backend.grant(me, seal.seal_id, ["n9527", "n9528"]) == ["n9527", "n9528"]
    assert backend.grant(me, seal.seal_id, ["n9528"]) == []
    backend.revoke(me, seal.seal_id, ["n9527"])
    total, [listed] = backend.describe_seals(me, with_users=True)
    assert total == 1 and len(listed.authorized_user_ids) == 1
    with pytest.raises(SealNotFound):
        backend.grant(me, "x" * 32, ["n9527"])


def test_reset_forgets_seals_and_grants_only(backend, me):
    seal = backend.create_seal(me, system())
    backend.grant(me, seal.seal_id, ["n9527"])
    backend.reset()
    assert backend.snapshot() == [] and backend.describe_seals(me, statuses=["ALL"]) == (0, [])
    assert backend.create_seal(me, system()).name == "合同专用章"  # the name is free again, the enterprise still there
