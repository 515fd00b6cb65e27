"""Local validation: each rule names the field and the rule, before any API call."""

from __future__ import annotations

import base64

import pytest

from tencent_ess.errors import EssValidationError
from tencent_ess.seals import create_params
from tencent_ess.validation import check_seal_spec, check_tenant, load_seal_image, parse_user_ids
from tests.conftest import png_bytes

GOOD = dict(seal_name="合同专用章", seal_type="CONTRACT", generate_source="SealGenerateSourceSystem")


def test_a_good_system_seal_becomes_api_params():
    spec = check_seal_spec(**GOOD, seal_style="cycle", seal_size="45_45", seal_horizontal_text="横向")
    assert create_params(spec) == {
        "SealName": "合同专用章",
        "SealType": "CONTRACT",
        "GenerateSource": "SealGenerateSourceSystem",
        "SealStyle": "cycle",
        "SealSize": "45_45",
        "SealHorizontalText": "横向",
    }


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"seal_name": "章" * 51}, "seal_name", "at most 50"),
        ({"seal_name": ""}, "seal_name", "required"),
        ({"seal_name": " 章"}, "seal_name", "white space"),
        ({"seal_type": "SECRET"}, "seal_type", "one of"),
        ({"seal_style": "square"}, "seal_style", "one of"),
        ({"seal_style": "ellipse", "seal_size": "40_30"}, "seal_style", "circles"),  # CONTRACT
        ({"seal_type": "OFFICIAL", "seal_style": "ellipse"}, "seal_style", "circles"),
        ({"seal_size": "40_30"}, "seal_size", "not a circle size"),
        ({"seal_type": "FINANCE", "seal_style": "ellipse", "seal_size": "42_42"}, "seal_size", "not a ellipse size"),
        ({"seal_size": "41_41"}, "seal_size", "one of"),
        ({"seal_horizontal_text": "字" * 16}, "seal_horizontal_text", "at most 15"),
        ({"generate_source": "Magic"}, "generate_source", "one of"),
        ({"generate_source": ""}, "generate_source", "image is required"),
        ({"tax_identify_code": "91440300MA5ABCDE1X"}, "tax_identify_code", "INVOICE"),
        ({"seal_name": 42}, "seal_name", "must be a string"),
    ],
)
def test_seal_rules(change, field, words):
    with pytest.raises(EssValidationError) as info:
        check_seal_spec(**{**GOOD, **change})
    assert info.value.field == field and words in info.value.rule


def test_image_with_system_generation_is_refused():
    with pytest.raises(EssValidationError, match="generate_source"):
        check_seal_spec(**GOOD, has_image=True)


def test_user_ids_with_characters_the_sources_disagree_on_are_left_to_the_api():
    """The seed page says letters and digits; UserInfo.OpenId has no such rule and the SDK's examples use `_`."""
    assert parse_user_ids(["zhangsan_01", "test_openid", "n95@29", "a-b.c"]) == [
        "zhangsan_01",
        "test_openid",
        "n95@29",
        "a-b.c",
    ]


@pytest.mark.parametrize(
    "value, field, words",
    [
        ([], "user_ids", "non-empty"),
        ("", "user_ids", "non-empty"),
        (["n9527", "bad id"], "user_ids[1]", "white space"),
        (["n9527\n"], "user_ids[0]", "control"),
        (["x" * 65], "user_ids[0]", "at most 64"),
        ([""], "user_ids[0]", "non-empty"),
        ("[not json", "user_ids", "JSON"),
        ([7], "user_ids[0]", "string"),
    ],
)
def test_user_id_rules(value, field, words):
    with pytest.raises(EssValidationError) as info:
        parse_user_ids(value)
    assert info.value.field == field and words in info.value.rule


def test_user_ids_from_json_or_commas_deduplicated():
    assert parse_user_ids('["a1", "b2", "a1"]') == ["a1", "b2"]
    assert parse_user_ids("a1, b2") == ["a1", "b2"]


@pytest.mark.parametrize(
    "content, words",
    [
        (b"hello, I am text", "not a readable"),
        (png_bytes()[:70], "not a readable"),  # truncated
        (png_bytes(fmt="GIF"), "PNG or JPG"),
        (b"\x89PNG" + b"\0" * (5 * 1024 * 1024 + 1), "at most 5 MB"),
    ],
)
def test_image_file_rules(tmp_path, content, words):
    path = tmp_path / "seal.png"
    path.write_bytes(content)
    with pytest.raises(EssValidationError) as info:
        load_seal_image("seal.png", None, tmp_path)
    assert info.value.field == "seal_image_path" and words in info.value.rule


def test_image_paths_relative_to_base_dir_and_base64(tmp_path):
    (tmp_path / "ok.jpg").write_bytes(png_bytes(fmt="JPEG"))
    encoded = load_seal_image("ok.jpg", None, tmp_path)
    assert base64.b64decode(encoded) == (tmp_path / "ok.jpg").read_bytes()
    assert load_seal_image(None, encoded) == encoded
    with pytest.raises(EssValidationError, match="file not found"):
        load_seal_image("missing.png", None, tmp_path)
    with pytest.raises(EssValidationError, match="seal_image_base64: is not valid base64"):
        load_seal_image(None, "@@@")
    with pytest.raises(EssValidationError, match="not both"):
        load_seal_image("ok.jpg", encoded, tmp_path)


def test_tenant_entry_rules():
    good = {
        "proxy_organization_open_id": "org1",
        "operator_open_id": "op1",
        "seal_name": "章",
        "seal_type": "OTHER",
        "generate_source": "SealGenerateSourceSystem",
        "user_ids": ["u1"],
    }
    assert check_tenant(good).key == ("org1", "章")
    for change, field in [
        ({"proxy_organization_open_id": ""}, "proxy_organization_open_id"),
        ({"operator_open_id": "o" * 65}, "operator_open_id"),
        ({"colour": "red"}, "colour"),
        ({"user_ids": []}, "user_ids"),
    ]:
        with pytest.raises(EssValidationError) as info:
            check_tenant({**good, **change})
        assert info.value.field == field
    with pytest.raises(EssValidationError, match="entry: must be a JSON object"):
        check_tenant(["not", "a", "dict"])


@pytest.mark.parametrize(
    "name, char",
    [
        ("合同\x00专用章", "U+0000"),
        ("合同\n专用章", "U+000A"),
        ("合同\u202e专用章", "U+202E"),
        ("合同\u200b专用章", "U+200B"),
        ("合同\u00a0专用章", "U+00A0"),
    ],
)
def test_seal_names_refuse_control_and_format_characters(name, char):
    """Regression (issue 12.9): NUL, newline, RLO, zero-width space passed into a seal name."""
    with pytest.raises(EssValidationError) as info:
        check_seal_spec(seal_name=name)
    assert info.value.field == "seal_name" and char in info.value.rule


def test_seal_names_are_nfc_and_look_alikes_share_a_key():
    from tencent_ess.validation import name_key

    decomposed = "Cafe\u0301章"  # NFD
    assert check_seal_spec(seal_name=decomposed).seal_name == "Café章"
    assert name_key("ＣＯＮＴＲＡＣＴ章") == name_key("contract章")  # full-width letters
    assert name_key("合同\u3000专用章") == name_key("合同专用章")  # ideographic space
    assert name_key(check_seal_spec(seal_name=decomposed).seal_name) == name_key("Café章")


def test_defaults_are_contract_and_system_drawn_everywhere():
    """Regression (issue 12.14): a manifest entry without seal_type made an OFFICIAL seal (公章)."""
    from tencent_ess.operators import CreateSealByImageOperator

    spec = check_tenant(
        {"proxy_organization_open_id": "o", "operator_open_id": "p", "seal_name": "章", "user_ids": ["u1"]}
    ).seal
    assert (spec.seal_type, spec.generate_source) == ("CONTRACT", "SealGenerateSourceSystem")
    operator = CreateSealByImageOperator(
        task_id="t", seal_name="章", proxy_organization_open_id="o", operator_open_id="p"
    )
    assert operator.seal_type == "CONTRACT"
    assert check_seal_spec(seal_name="章", seal_type="OFFICIAL").seal_type == "OFFICIAL"  # only when asked for


def test_an_image_declaring_huge_dimensions_is_refused_from_its_header(tmp_path):
    """Regression (issue 12.5): a 641 KiB 13000×13000 PNG passed and cost ~660 MB to decode."""
    import resource

    from PIL import Image

    path = tmp_path / "bomb.png"
    Image.new("1", (13000, 13000)).save(path, optimize=True)
    assert path.stat().st_size < 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(EssValidationError) as info:
        load_seal_image("bomb.png", None, tmp_path)
    assert "at most 16,000,000 pixels (got 13000×13000)" in info.value.rule
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB: nothing was decoded


def test_a_file_reporting_size_zero_is_read_at_most_once_and_capped(tmp_path, monkeypatch):
    from tencent_ess import storage, validation

    reads = []
    real = storage.read_bytes
    monkeypatch.setattr(storage, "read_bytes", lambda f, limit=None: reads.append(limit) or real(f, limit))
    with pytest.raises(EssValidationError, match="not a readable PNG or JPG"):
        load_seal_image("/proc/self/status", None, tmp_path, allow_absolute=True)  # reports size 0
    assert reads == [validation.MAX_IMAGE_RAW + 1]


@pytest.mark.parametrize("path", ["../outside.png", "sub/../../outside.png", "/etc/passwd", "link.png"])
def test_image_paths_may_not_leave_the_base_folder_nor_tell_what_exists(tmp_path, path):
    """Regression (issue 12.6): `../` and absolute paths read any file of the worker, and the error said
    whether it existed."""
    base = tmp_path / "dags"
    base.mkdir()
    (tmp_path / "outside.png").write_bytes(png_bytes())
    (base / "link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(EssValidationError) as info:
        load_seal_image(path, None, base)
    assert info.value.field == "seal_image_path"
    assert "must stay inside" in info.value.rule or "must be relative" in info.value.rule
    assert "not found" not in info.value.rule and "PNG" not in info.value.rule


def test_manifest_entries_naming_a_key_twice_are_refused():
    """Regression (issue 12.9): duplicate keys in a manifest entry were silently merged."""
    import json

    from tencent_ess.validation import json_object_pairs

    entry = json.loads(
        '{"proxy_organization_open_id": "o", "operator_open_id": "p", "seal_name": "A", '
        '"seal_name": "B", "user_ids": ["u1"]}',
        object_pairs_hook=json_object_pairs,
    )
    with pytest.raises(EssValidationError, match="seal_name: is given more than once"):
        check_tenant(entry)


@pytest.mark.parametrize(
    "value",
    [
        {"CreateSealPreview": True},
        {"CreateSealPreview": "True"},
        {"CreateSealPreview": 1},
        [{"Key": "CreateSealPreview", "Value": "true"}],
    ],
)
def test_a_preview_option_is_refused_however_it_is_written(value):
    from tencent_ess.validation import check_options

    with pytest.raises(EssValidationError, match=r"options\['CreateSealPreview'\]: previews a seal"):
        check_options(value)


def test_options_in_the_apis_own_shape_are_taken():
    from tencent_ess.validation import check_options

    assert (
        check_options([{"Key": "SealOperatorVerify", "Value": "true"}])
        == check_options({"SealOperatorVerify": True})
        == [{"Key": "SealOperatorVerify", "Value": "true"}]
    )
    with pytest.raises(EssValidationError, match="options: as a list"):
        check_options([{"Key": "SealOperatorVerify"}])


def test_where_a_sub_seal_type_applies_is_the_apis_to_say_but_not_with_a_horizontal_text():
    spec = check_seal_spec(seal_name="章", seal_type="CONTRACT", sub_seal_type="X")
    assert create_params(spec)["SubSealType"] == "X"
    with pytest.raises(EssValidationError, match="sub_seal_type: must not be combined with seal_horizontal_text"):
        check_seal_spec(seal_name="章", seal_type="OTHER", sub_seal_type="X", seal_horizontal_text="横")
