"""Local validation: each rule names the field and the rule, before any API call."""

from __future__ import annotations

import base64

import pytest

from tencent_ess.errors import EssValidationError
from tencent_ess.validation import check_seal_spec, check_tenant, load_seal_image, parse_user_ids
from tests.conftest import png_bytes

GOOD = dict(seal_name="合同专用章", seal_type="CONTRACT", generate_source="SealGenerateSourceSystem")


def test_a_good_system_seal_becomes_api_params():
    spec = check_seal_spec(**GOOD, seal_style="cycle", seal_size="45_45", seal_horizontal_text="横向")
    assert spec.to_params() == {"SealName": "合同专用章", "SealType": "CONTRACT", "GenerateSource":
                                "SealGenerateSourceSystem", "SealStyle": "cycle", "SealSize": "45_45",
                                "SealHorizontalText": "横向"}


@pytest.mark.parametrize("change, field, words", [
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
])
def test_seal_rules(change, field, words):
    with pytest.raises(EssValidationError) as info:
        check_seal_spec(**{**GOOD, **change})
    assert info.value.field == field and words in info.value.rule


def test_image_with_system_generation_is_refused():
    with pytest.raises(EssValidationError, match="generate_source"):
        check_seal_spec(**GOOD, has_image=True)


@pytest.mark.parametrize("value, field, words", [
    ([], "user_ids", "non-empty"),
    ("", "user_ids", "non-empty"),
    (["n9527", "bad-id!"], "user_ids[1]", "letters"),
    (["x" * 65], "user_ids[0]", "at most 64"),
    ([""], "user_ids[0]", "non-empty"),
    ("[not json", "user_ids", "JSON"),
    ([7], "user_ids[0]", "string"),
])
def test_user_id_rules(value, field, words):
    with pytest.raises(EssValidationError) as info:
        parse_user_ids(value)
    assert info.value.field == field and words in info.value.rule


def test_user_ids_from_json_or_commas_deduplicated():
    assert parse_user_ids('["a1", "b2", "a1"]') == ["a1", "b2"]
    assert parse_user_ids("a1, b2") == ["a1", "b2"]


@pytest.mark.parametrize("content, words", [
    (b"hello, I am text", "not a readable"),
    (png_bytes()[:70], "not a readable"),  # truncated
    (png_bytes(fmt="GIF"), "PNG or JPG"),
    (b"\x89PNG" + b"\0" * (5 * 1024 * 1024 + 1), "at most 5 MB"),
])
def test_image_file_rules(tmp_path, content, words):
    path = tmp_path / "seal.png"
    path.write_bytes(content)
    with pytest.raises(EssValidationError) as info:
        load_seal_image(str(path), None)
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
    good = {"proxy_organization_open_id": "org1", "operator_open_id": "op1", "seal_name": "章",
            "seal_type": "OTHER", "generate_source": "SealGenerateSourceSystem", "user_ids": ["u1"]}
    assert check_tenant(good).key == ("org1", "章")
    for change, field in [({"proxy_organization_open_id": ""}, "proxy_organization_open_id"),
                          ({"operator_open_id": "o" * 65}, "operator_open_id"),
                          ({"colour": "red"}, "colour"),
                          ({"user_ids": []}, "user_ids")]:
        with pytest.raises(EssValidationError) as info:
            check_tenant({**good, **change})
        assert info.value.field == field
    with pytest.raises(EssValidationError, match="entry: must be a JSON object"):
        check_tenant(["not", "a", "dict"])
