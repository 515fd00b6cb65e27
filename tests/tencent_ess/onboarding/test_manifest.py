"""Reading and planning the manifest: entries checked one by one, chunks that keep an enterprise together."""

from __future__ import annotations

import pytest

from tencent_ess.errors import EssValidationError
from tencent_ess.onboarding.manifest import chunk_size_for, make_chunks, plan_tenants
from tests.tencent_ess.onboarding.test_engine import tenant


def test_chunks_keep_an_enterprise_together_and_lose_nothing():
    sizes = {"a": 3, "b": 3, "c": 2, "d": 1, "e": 1}
    tenants = [
        {"index": i, "proxy_organization_open_id": org}
        for i, org in enumerate(o for o, n in sizes.items() for _ in range(n))
    ]
    chunks = make_chunks(tenants, 4)
    assert sorted(t["index"] for c in chunks for t in c) == list(range(10))
    for org in sizes:
        assert sum(1 for c in chunks if any(t["proxy_organization_open_id"] == org for t in c)) == 1
    assert all(len(c) <= 4 for c in chunks)


def test_chunks_grow_to_stay_within_max_map_length():
    tenants = [{"index": i, "proxy_organization_open_id": f"org{i}"} for i in range(100)]
    assert len(make_chunks(tenants, 1)) == 100
    chunks = make_chunks(tenants, 1, max_chunks=7)
    assert len(chunks) <= 7 and sum(len(c) for c in chunks) == 100


def test_chunk_size_must_be_positive():
    with pytest.raises(EssValidationError, match="chunk_size: must be at least 1"):
        make_chunks([], 0)


def test_plan_keeps_good_entries_and_names_bad_ones():
    entries = [
        tenant("org_dianziqian", "A"),
        "not an object",
        tenant("org_dianziqian", "A"),
        tenant("org_dianziqian", "B", seal_type="NOPE"),
    ]
    planned, rejected = plan_tenants(entries)
    assert [t["index"] for t in planned] == [0]
    errors = {row["index"]: row["error"] for row in rejected}
    assert set(errors) == {1, 2, 3}
    assert "entry 2: seal_name: duplicate of entry 0" in errors[2]
    assert errors[3].startswith("entry 3: seal_type")


def test_a_manifest_with_a_utf8_bom_is_read(tmp_path):
    """Regression (issue 12.2): a BOM failed `plan`, and the run still ended green."""
    import json

    from tencent_ess.onboarding.manifest import read_manifest

    path = tmp_path / "m.json"
    path.write_bytes(json.dumps([tenant("org_dianziqian", "章")], ensure_ascii=False).encode("utf-8-sig"))
    assert read_manifest(path)[0]["seal_name"] == "章"
    assert read_manifest(tmp_path / "absent.json") is None


@pytest.mark.parametrize(
    "text, words",
    [
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        ('{"a": 1}', "must be a JSON list"),
        ("[1,", "not valid UTF-8 JSON"),
        (b"\xff\xfe[]", "not valid UTF-8 JSON"),
    ],
)
def test_an_unusable_manifest_is_a_named_manifest_error(tmp_path, text, words):
    from tencent_ess.onboarding.manifest import ManifestError, read_manifest

    path = tmp_path / "m.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ManifestError, match=words) as info:
        read_manifest(path)
    assert str(path) in str(info.value)


def test_any_failure_of_one_entry_is_its_row_and_the_others_go_on(tmp_path):
    """Regression (issue 12.2): a non-string seal_image_path (TypeError) or an image over Pillow's bomb limit
    failed the whole plan."""
    from PIL import Image

    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png", optimize=True)
    entries = [
        tenant("org_a", "A"),
        tenant("org_b", "B", seal_image_path=["not", "a", "string"]),
        tenant("org_c", "C", seal_image_path="bomb.png", generate_source=None),
        tenant("org_d", "D", seal_image_path="../escape.png", generate_source=None),
        tenant("org_e", "E"),
    ]
    planned, rejected = plan_tenants(entries, base_dir=tmp_path)
    assert [t["index"] for t in planned] == [0, 4]
    errors = {row["index"]: row["error"] for row in rejected}
    assert errors[1].startswith("entry 1: seal_image_path: must be a string")
    assert errors[2].startswith("entry 2: seal_image_path: image must have at most")
    assert errors[3].startswith("entry 3: seal_image_path: must stay inside")


def test_look_alike_seal_names_are_duplicates():
    """Regression (issue 12.9): full-width letters, NFD and ideographic spaces defeated the duplicate check."""
    entries = [
        tenant("org_a", "ABC合同章"),
        tenant("org_a", "ＡＢＣ合同章"),
        tenant("org_a", "ABC合同\u3000章"),
        tenant("org_a", "abc合同章"),
    ]
    planned, rejected = plan_tenants(entries)
    assert [t["index"] for t in planned] == [0]
    assert all("duplicate of entry 0" in row["error"] for row in rejected) and len(rejected) == 3


@pytest.mark.parametrize(
    "rate, size", [(1, 1000), (20, 1000), (25, 1000), (26, 1040), (100, 4000), (125, 5000), (10000, 5000)]
)
def test_an_empty_chunk_size_is_forty_seconds_of_work_at_the_rate(rate, size):
    """A chunk task idles the quota for about a second as it starts and ends: at 100/s, 1,000-tenant chunks lost
    8% of it (issue 14)."""
    assert chunk_size_for(rate) == size


def test_a_rejected_entry_shields_what_it_can_be_read_to_name():
    """Regression (issue 25.4): a rejected entry did not shield its seal from revoke_unlisted."""
    from tencent_ess.onboarding.manifest import plan_tenants

    base = {"operator_open_id": "op", "user_ids": ["u1"]}
    entries = [
        {**base, "proxy_organization_open_id": "orgA", "seal_name": "合同章"},
        {**base, "proxy_organization_open_id": "orgA", "seal_name": "合同章 "},  # rejected: trailing space
        {**base, "proxy_organization_open_id": "orgA", "seal_name": "财务章"},
        {**base, "proxy_organization_open_id": "orgB", "seal_name": "合同章"},
        {**base, "proxy_organization_open_id": "orgB", "seal_name": 7},  # rejected: shields all of orgB
        {**base, "proxy_organization_open_id": "orgC", "seal_name": "合同章"},
    ]
    tenants, rejected = plan_tenants(entries)
    assert [r["index"] for r in rejected] == [1, 4]
    withheld = {t["index"]: t.get("withheld") for t in tenants}
    assert withheld == {
        0: "rejected entry 1 names the same seal",
        2: None,
        3: "rejected entry 4 names the same enterprise",
        5: None,
    }
    tenants, _ = plan_tenants(entries + [["not", "an", "object"]])
    assert all(t.get("withheld") == "rejected entry 6 names nothing readable" or t["index"] in (0, 3) for t in tenants)


def test_a_manifest_that_cannot_be_read_as_data_is_a_permanent_error_naming_it(tmp_path):
    """Regression (issue 25.8): a 5,000-digit number escaped as a bare ValueError, retried 4 times."""
    from tencent_ess.onboarding.manifest import ManifestError, read_manifest

    path = tmp_path / "2026-11-01.json"
    path.write_text('[{"seal_size": ' + "9" * 5000 + "}]", encoding="utf-8")
    with pytest.raises(ManifestError, match="a value cannot be read") as info:
        read_manifest(path)
    assert str(path) in str(info.value) and not info.value.transient
