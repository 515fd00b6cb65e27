"""Local checks of every input, before any API call (ESS_API.md rules). One place for each rule.

Each failure raises `EssValidationError(field, rule)`; field names are the operators' snake_case
argument names, so the message points at what the user wrote.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import EssValidationError

SEAL_TYPES = ("OFFICIAL", "CONTRACT", "FINANCE", "PERSONNEL", "INVOICE", "OTHER")
CIRCLE_ONLY_TYPES = frozenset({"OFFICIAL", "CONTRACT"})
SEAL_STYLES = ("circle", "cycle", "ellipse")
CIRCLE_SIZES = ("38_38", "40_40", "42_42", "45_45", "50_50", "58_58")
ELLIPSE_SIZES = ("40_30", "45_30")
SEAL_SIZES = CIRCLE_SIZES + ELLIPSE_SIZES
GENERATE_SYSTEM = "SealGenerateSourceSystem"
GENERATE_SOURCES = ("", GENERATE_SYSTEM)
MAX_SEAL_NAME = 50
MAX_HORIZONTAL_TEXT = 15
MAX_OPEN_ID = 64
MAX_IMAGE_RAW = 5 * 1024 * 1024
MAX_IMAGE_B64 = 10 * 1024 * 1024
_ID_RE = re.compile(r"^[A-Za-z0-9]+$")


def require_text(field_name: str, value: Any, *, max_len: int, min_len: int = 1) -> str:
    """A string of min_len..max_len characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise EssValidationError(field_name, f"must be a string, got {type(value).__name__}")
    if len(value) < min_len:
        raise EssValidationError(field_name, "is required and must not be empty")
    if len(value) > max_len:
        raise EssValidationError(field_name, f"must be at most {max_len} characters (got {len(value)})")
    return value


def require_open_id(field_name: str, value: Any) -> str:
    """An OpenId: 1-64 characters (the Agent identifiers)."""
    return require_text(field_name, value, max_len=MAX_OPEN_ID)


def require_choice(field_name: str, value: Any, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise EssValidationError(field_name, f"must be one of {shown} (got {value!r})")
    return value


def parse_user_ids(value: Any, field_name: str = "user_ids") -> list[str]:
    """A non-empty list of e-sign UserIds or OpenIds: letters and digits, at most 64 each.

    Accepts a list, a JSON list in a string (what a Jinja template renders) or a comma-separated string.
    Duplicates are dropped, order kept.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise EssValidationError(field_name, "is not a valid JSON list") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise EssValidationError(field_name, "must be a non-empty list of user ids")
    for index, user_id in enumerate(value):
        name = f"{field_name}[{index}]"
        if not isinstance(user_id, str) or not user_id:
            raise EssValidationError(name, "must be a non-empty string")
        if len(user_id) > MAX_OPEN_ID:
            raise EssValidationError(name, f"must be at most {MAX_OPEN_ID} characters (got {len(user_id)})")
        if not _ID_RE.match(user_id):
            raise EssValidationError(name, f"must contain only letters A-Z, a-z and digits 0-9 (got {user_id!r})")
    return list(dict.fromkeys(value))


def check_image_bytes(raw: bytes, field_name: str) -> None:
    """PNG or JPG that decodes completely, at most 5 MB."""
    from PIL import Image, UnidentifiedImageError  # imported here: DAG files import this module at parse time

    if len(raw) > MAX_IMAGE_RAW:
        raise EssValidationError(field_name, f"image must be at most 5 MB raw (got {len(raw) / 1048576:.1f} MB)")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format not in ("PNG", "JPEG"):
                raise EssValidationError(field_name, f"image must be PNG or JPG (got {img.format})")
            img.load()
    except EssValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise EssValidationError(field_name, f"image is not a readable PNG or JPG ({type(err).__name__})") from None


def load_seal_image(path: str | None, encoded: str | None, base_dir: str | Path | None = None) -> str:
    """The SealImage base64 from a file (absolute, or relative to `base_dir`) or from base64; '' when neither."""
    if path and encoded:
        raise EssValidationError("seal_image_path", "give seal_image_path or seal_image_base64, not both")
    if path:
        file = Path(path)
        if not file.is_absolute() and base_dir is not None:
            file = Path(base_dir) / file
        if not file.is_file():
            raise EssValidationError("seal_image_path", f"file not found: {file}")
        if file.stat().st_size > MAX_IMAGE_RAW:
            raise EssValidationError(
                "seal_image_path", f"image must be at most 5 MB raw (got {file.stat().st_size / 1048576:.1f} MB)"
            )
        raw = file.read_bytes()
        check_image_bytes(raw, "seal_image_path")
        return base64.b64encode(raw).decode("ascii")
    if encoded:
        if len(encoded) > MAX_IMAGE_B64:
            raise EssValidationError("seal_image_base64", "must be at most 10 MB of base64")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise EssValidationError("seal_image_base64", "is not valid base64") from None
        check_image_bytes(raw, "seal_image_base64")
        return encoded
    return ""


@dataclass(frozen=True)
class SealSpec:
    """A seal to create, checked: the snake_case twin of CreateSealByImage's parameters (Agent aside)."""

    seal_name: str
    seal_type: str = "OFFICIAL"
    generate_source: str = ""
    seal_style: str = ""
    seal_size: str = ""
    seal_horizontal_text: str = ""
    tax_identify_code: str = ""
    seal_description: str = ""
    has_image: bool = False

    def to_params(self, seal_image: str = "") -> dict[str, Any]:
        """The API parameters; empty optional fields are left out, as the API's defaults apply then."""
        params: dict[str, Any] = {"SealName": self.seal_name, "SealType": self.seal_type}
        optional = {
            "GenerateSource": self.generate_source,
            "SealStyle": self.seal_style,
            "SealSize": self.seal_size,
            "SealHorizontalText": self.seal_horizontal_text,
            "TaxIdentifyCode": self.tax_identify_code,
            "SealDescription": self.seal_description,
            "SealImage": seal_image,
        }
        params.update({key: value for key, value in optional.items() if value})
        return params


def check_seal_spec(
    *,
    seal_name: Any,
    seal_type: Any = "OFFICIAL",
    generate_source: Any = "",
    seal_style: Any = "",
    seal_size: Any = "",
    seal_horizontal_text: Any = "",
    tax_identify_code: Any = "",
    seal_description: Any = "",
    has_image: bool = False,
) -> SealSpec:
    """Every CreateSealByImage rule that can be checked without the API."""
    name = require_text("seal_name", seal_name, max_len=MAX_SEAL_NAME)
    if name != name.strip():
        raise EssValidationError("seal_name", "must not start or end with white space")
    seal_type = require_choice("seal_type", seal_type or "OFFICIAL", SEAL_TYPES)
    source = require_choice("generate_source", generate_source or "", GENERATE_SOURCES)
    if not source and not has_image:
        raise EssValidationError(
            "generate_source", f"is empty, so a seal image is required: set {GENERATE_SYSTEM!r} or give an image"
        )
    if source and has_image:
        raise EssValidationError("generate_source", f"{GENERATE_SYSTEM!r} draws the seal: give no image with it")
    style = require_choice("seal_style", seal_style or "", ("",) + SEAL_STYLES)
    size = require_choice("seal_size", seal_size or "", ("",) + SEAL_SIZES)
    if style == "ellipse" and seal_type in CIRCLE_ONLY_TYPES:
        raise EssValidationError("seal_style", f"{seal_type} seals must be circles, not ellipse")
    if size:
        allowed = ELLIPSE_SIZES if style == "ellipse" else CIRCLE_SIZES
        if size not in allowed:
            shape = "ellipse" if style == "ellipse" else "circle"
            raise EssValidationError("seal_size", f"{size} is not a {shape} size; use one of {', '.join(allowed)}")
    text = require_text("seal_horizontal_text", seal_horizontal_text, max_len=MAX_HORIZONTAL_TEXT, min_len=0)
    tax = require_text("tax_identify_code", tax_identify_code, max_len=64, min_len=0)
    if tax and seal_type != "INVOICE":
        raise EssValidationError("tax_identify_code", "is only used with seal_type 'INVOICE'")
    description = require_text("seal_description", seal_description, max_len=1000, min_len=0)
    return SealSpec(name, seal_type, source, style, size, text, tax, description, has_image)


@dataclass(frozen=True)
class Tenant:
    """One onboarding entry: an enterprise, its operator, one seal and who gets it."""

    proxy_organization_open_id: str
    operator_open_id: str
    seal: SealSpec
    user_ids: tuple[str, ...]
    seal_image_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        """What makes a tenant entry unique: the enterprise and the seal name."""
        return (self.proxy_organization_open_id, self.seal.seal_name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for XCom): the same keys as the trigger form's Params."""
        return {
            "proxy_organization_open_id": self.proxy_organization_open_id,
            "operator_open_id": self.operator_open_id,
            "seal_name": self.seal.seal_name,
            "seal_type": self.seal.seal_type,
            "generate_source": self.seal.generate_source,
            "seal_style": self.seal.seal_style,
            "seal_size": self.seal.seal_size,
            "seal_horizontal_text": self.seal.seal_horizontal_text,
            "seal_image_path": self.seal_image_path,
            "user_ids": list(self.user_ids),
        }


TENANT_KEYS = (
    "proxy_organization_open_id", "operator_open_id", "seal_name", "seal_type", "generate_source", "seal_style",
    "seal_size", "seal_horizontal_text", "seal_image_path", "user_ids",
)


def check_tenant(entry: Any, base_dir: str | Path | None = None, check_image: bool = True) -> Tenant:
    """A manifest entry or trigger conf, checked; the image file (if any) is checked but not kept in memory.

    `check_image=False` skips reading the file, for callers that load (and so check) it themselves.
    """
    if not isinstance(entry, dict):
        raise EssValidationError("entry", f"must be a JSON object, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(TENANT_KEYS))
    if unknown:
        raise EssValidationError(unknown[0], f"is not a known key; known keys are {', '.join(TENANT_KEYS)}")
    org = require_open_id("proxy_organization_open_id", entry.get("proxy_organization_open_id"))
    operator = require_open_id("operator_open_id", entry.get("operator_open_id"))
    image_path = entry.get("seal_image_path") or ""
    if image_path and check_image:
        load_seal_image(image_path, None, base_dir)  # fail now, before any call, on a bad file
    spec = check_seal_spec(
        seal_name=entry.get("seal_name"),
        seal_type=entry.get("seal_type") or "OFFICIAL",
        generate_source=entry.get("generate_source") or "",
        seal_style=entry.get("seal_style") or "",
        seal_size=entry.get("seal_size") or "",
        seal_horizontal_text=entry.get("seal_horizontal_text") or "",
        has_image=bool(image_path),
    )
    users = parse_user_ids(entry.get("user_ids"))
    return Tenant(org, operator, spec, tuple(users), image_path)
