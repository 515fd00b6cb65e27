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
    return SealSpec(
        name=name, seal_type=extra.pop("seal_type", "CONTRACT"), generate_source="SealGenerateSourceSystem", **extra
    )


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
        backend.create_seal(
            me, SealSpec(name="两者", seal_type="OTHER", generate_source="SealGenerateSourceSystem", image=png_bytes())
        )


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


def test_a_database_from_before_seal_descriptions_gains_the_column(tmp_path, me):
    import sqlite3

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as old:  # the first release's seals table, one system seal in it
        old.execute(
            "CREATE TABLE seals (seq INTEGER PRIMARY KEY AUTOINCREMENT, seal_id TEXT NOT NULL UNIQUE,"
            " app_id TEXT NOT NULL, org_open_id TEXT NOT NULL, seal_name TEXT NOT NULL, seal_type TEXT NOT NULL,"
            " seal_style TEXT NOT NULL, seal_size TEXT NOT NULL, horizontal_text TEXT NOT NULL,"
            " from_image INTEGER NOT NULL, image_bytes INTEGER NOT NULL, created_at REAL NOT NULL,"
            " review_ready_at REAL NOT NULL, review_result TEXT NOT NULL, UNIQUE (app_id, org_open_id, seal_name))"
        )
        old.execute(
            "INSERT INTO seals VALUES (1, ?, ?, ?, '旧章', 'OTHER', 'circle', '40_40', '', 0, 0, 0, 0, 'SUCCESS')",
            ("s" * 32, APP_ID, ORG),
        )
    backend = EssBackend(str(db), Fixture.load(DEFAULT_FIXTURE))
    try:
        [seal] = backend.describe_seals(me)[1]
        assert (seal.name, seal.description, seal.real_size_mm()) == ("旧章", "", (40, 40))
    finally:
        backend.close()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT COALESCE(MAX(granted_seq),0)+1 FROM grants",  # every grant's sequence number
        "SELECT user_id FROM grants WHERE seal_id='x' ORDER BY granted_seq",  # a described seal's holders
        "SELECT * FROM seals WHERE app_id='a' AND org_open_id='o' ORDER BY seq",  # an enterprise's seals
        "SELECT 1 FROM seals WHERE app_id='a' AND org_open_id='o' AND seal_name='n'",  # a name taken
        "SELECT * FROM seals WHERE seal_id='x'",
    ],
)
def test_a_call_reads_through_an_index_not_the_whole_table(backend, query):
    """A scan per call makes a run's cost grow with every seal before it: a 100,000-tenant run slowed threefold."""
    plan = " | ".join(row[-1] for row in backend._db.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert "INDEX" in plan and not any(step.startswith("SCAN") and "INDEX" not in step for step in plan.split(" | ")), (
        plan
    )
