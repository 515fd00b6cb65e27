"""Local checks of every input, before any API call (the rules the API documents). One place for each rule.

Each failure raises `EssValidationError(field, rule)`; field names are the operators' snake_case
argument names, so the message points at what the user wrote.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import io
import json
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import EssValidationError, StorageError
from .storage import is_local, local_path, read_if_present, storage_path

SEAL_TYPES = ("OFFICIAL", "CONTRACT", "FINANCE", "PERSONNEL", "INVOICE", "OTHER")
CIRCLE_ONLY_TYPES = frozenset({"OFFICIAL", "CONTRACT"})
SEAL_STYLES = ("circle", "cycle", "ellipse")
CIRCLE_SIZES = ("38_38", "40_40", "42_42", "45_45", "50_50", "58_58")
ELLIPSE_SIZES = ("40_30", "45_30")
SEAL_SIZES = CIRCLE_SIZES + ELLIPSE_SIZES
#: An image seal's `SealSize` is its own `W_H` in mm (Go SDK v1.3.143): 10-100 each, aspect ratio 0.1-10.
IMAGE_SIZE_MM = (10, 100)
IMAGE_ASPECT = (0.1, 10.0)
_IMAGE_SIZE_RE = re.compile(r"^([0-9]{1,3})_([0-9]{1,3})$")
GENERATE_SYSTEM = "SealGenerateSourceSystem"
GENERATE_SOURCES = ("", GENERATE_SYSTEM)
MAX_SEAL_NAME = 50
MAX_HORIZONTAL_TEXT = 15
MAX_OPEN_ID = 64
MAX_IMAGE_RAW = 5 * 1024 * 1024
MAX_IMAGE_B64 = 10 * 1024 * 1024
#: Our own limit on a seal image's pixels, read from the header before any decoding. A seal printed at
#: 58 mm needs far less than 4000×4000; a 641 KiB PNG declaring 13000×13000 would cost ~660 MB to decode.
MAX_IMAGE_PIXELS = 16_000_000
#: The default seal type everywhere (operator, trigger form, manifest). OFFICIAL (公章, the enterprise's one
#: main seal) is created only when asked for by name.
DEFAULT_SEAL_TYPE = "CONTRACT"
#: Unicode categories refused in names: controls, format characters (RLO, zero-width space), separators
#: other than the plain space, private use and surrogates.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
#: What an OpenId or UserId may not contain. The seed page says letters and digits, yet `UserInfo.OpenId` has no such
#: rule and the SDK's examples use `_` (ESS_API.md, "Other readings"): only what no id can hold is refused here,
#: and the API decides the rest (its answer is reported).
_ID_REFUSED = re.compile(r"[\s\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


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


def require_name(field_name: str, value: Any, *, max_len: int, min_len: int = 1) -> str:
    """Human-readable text (a seal name): NFC-normalised, no control or format characters, no leading or
    trailing white space, min_len..max_len characters after normalisation."""
    text = require_text(field_name, value, max_len=10 * max_len, min_len=min_len)
    text = unicodedata.normalize("NFC", text)
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or (category == "Zs" and char not in (" ", "\u3000")):
            raise EssValidationError(
                field_name,
                f"must not contain control, format or unusual space characters "
                f"(U+{ord(char):04X} {unicodedata.name(char, category)} at position {position})",
            )
    if text != text.strip():
        raise EssValidationError(field_name, "must not start or end with white space")
    return require_text(field_name, text, max_len=max_len, min_len=min_len)


def name_key(name: str) -> str:
    """What two seal names that look alike share: NFKC (full-width letters, compatibility forms), case-folded,
    white space (ideographic included) removed. Used to refuse look-alike duplicates in one manifest."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


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
    """A non-empty list of e-sign UserIds or OpenIds: 1-64 characters each, no white space or control characters.

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
        if _ID_REFUSED.search(user_id):
            raise EssValidationError(name, f"must not contain white space or control characters (got {user_id!r})")
    return list(dict.fromkeys(value))


def check_image_seal_size(value: Any) -> str:
    """An image seal's custom size: `W_H` in mm, each 10-100, aspect ratio 0.1-10 (Go SDK v1.3.143)."""
    low, high = IMAGE_SIZE_MM
    match = _IMAGE_SIZE_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise EssValidationError("seal_size", f"for a seal from an image must be W_H in mm, e.g. 40_40 (got {value!r})")
    width, height = int(match[1]), int(match[2])
    if not (low <= width <= high and low <= height <= high):
        raise EssValidationError(
            "seal_size", f"for a seal from an image: width and height must be {low}-{high} mm (got {value})"
        )
    if not IMAGE_ASPECT[0] <= width / height <= IMAGE_ASPECT[1]:
        raise EssValidationError(
            "seal_size", f"for a seal from an image: the aspect ratio must be 0.1-10 (got {value})"
        )
    return f"{width}_{height}"


def check_image_bytes(raw: bytes, field_name: str) -> None:
    """PNG or JPG, at most 5 MB and `MAX_IMAGE_PIXELS` pixels (read from the header first), that decodes whole."""
    from PIL import Image, UnidentifiedImageError  # imported here: DAG files import this module at parse time

    if len(raw) > MAX_IMAGE_RAW:
        raise EssValidationError(
            field_name, f"image must be at most 5 MB raw (got more than {len(raw) / 1048576:.1f} MB)"
        )
    try:
        with warnings.catch_warnings(), Image.open(io.BytesIO(raw), formats=("PNG", "JPEG")) as img:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own, lower limit applies
            width, height = img.size  # from the header: nothing is decoded yet
            if width * height > MAX_IMAGE_PIXELS:
                raise EssValidationError(
                    field_name, f"image must have at most {MAX_IMAGE_PIXELS:,} pixels (got {width}×{height})"
                )
            img.load()
    except EssValidationError:
        raise
    except Image.DecompressionBombError:
        raise EssValidationError(field_name, f"image must have at most {MAX_IMAGE_PIXELS:,} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError) as err:
        raise EssValidationError(field_name, f"image is not a readable PNG or JPG ({type(err).__name__})") from None


def resolve_image_path(path: str, base_dir: Any, allow_absolute: bool = False) -> Any:
    """The image file a `seal_image_path` names: relative paths stay inside `base_dir` (a folder, or an
    `ObjectStoragePath` URL; no `..`, no symlink out); an absolute path only with `allow_absolute`.
    A refused path is named without saying whether it exists."""
    field_name = "seal_image_path"
    if "\x00" in path:
        raise EssValidationError(field_name, "must not contain NUL characters")
    if Path(path).is_absolute():
        if not allow_absolute:
            raise EssValidationError(
                field_name,
                f"must be relative to {base_dir or 'the DAG folder'} "
                "(absolute paths need allow_absolute_image_path=True)",
            )
        return Path(path)
    if base_dir is None:
        raise EssValidationError(field_name, "is relative but no base folder is known")
    base = base_dir if hasattr(base_dir, "protocol") else storage_path(base_dir)
    if not is_local(base):
        if ".." in PurePosixPath(path).parts or "://" in path:
            raise EssValidationError(field_name, f"must stay inside {base_dir} (got {path!r})")
        return base / path
    root = local_path(base).resolve()
    file = (root / path).resolve()
    if not file.is_relative_to(root):
        raise EssValidationError(field_name, f"must stay inside {root} (got {path!r})")
    return file


def read_image_file(file: Any) -> bytes:
    """At most 5 MB + 1 byte of a file, read once (a size reported as 0, as under /proc, is not trusted).
    A file that is not there, or is a folder, is the user's input at fault (`EssValidationError`); a store that
    cannot be reached or refuses access is not (`StorageError`: transient unless access was refused)."""
    try:
        raw = read_if_present(file, MAX_IMAGE_RAW + 1)
    except StorageError as err:
        if err.kind in ("IsADirectoryError", "NotADirectoryError"):
            raise EssValidationError("seal_image_path", f"not a file: {file}") from None
        raise
    if raw is None:
        raise EssValidationError("seal_image_path", f"file not found: {file}")
    return raw


def load_seal_image(
    path: str | None, encoded: str | None, base_dir: str | Path | None = None, *, allow_absolute: bool = False
) -> str:
    """The SealImage base64 from a file (relative to `base_dir`) or from base64; '' when neither."""
    if path and encoded:
        raise EssValidationError("seal_image_path", "give seal_image_path or seal_image_base64, not both")
    if path:
        if not isinstance(path, str):
            raise EssValidationError("seal_image_path", f"must be a string, got {type(path).__name__}")
        raw = read_image_file(resolve_image_path(path, base_dir, allow_absolute))
        check_image_bytes(raw, "seal_image_path")
        return base64.b64encode(raw).decode("ascii")
    if encoded:
        if not isinstance(encoded, str):
            raise EssValidationError("seal_image_base64", f"must be a string, got {type(encoded).__name__}")
        if len(encoded) > MAX_IMAGE_B64:
            raise EssValidationError("seal_image_base64", "must be at most 10 MB of base64")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise EssValidationError("seal_image_base64", "is not valid base64") from None
        check_image_bytes(raw, "seal_image_base64")
        return encoded
    return ""


#: Option keys an operator may not pass: `CreateSealPreview=true` makes no seal (it answers SealId "").
REFUSED_OPTIONS = {"CreateSealPreview": "previews a seal without making it; these operators make seals"}


def check_options(value: Any, field_name: str = "options") -> list[dict[str, str]]:
    """`Options` as the API takes them (a list of {Key, Value} strings) from a dict; booleans become "true"/"false".
    Keys are passed as given (the API documents few and adds more); `REFUSED_OPTIONS` are refused."""
    if value is None or value == {} or value == []:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise EssValidationError(field_name, "is not a valid JSON object") from None
    if isinstance(value, list):  # the API's own shape: [{"Key": ..., "Value": ...}]
        if not all(isinstance(item, dict) and set(item) == {"Key", "Value"} for item in value):
            raise EssValidationError(field_name, 'as a list must hold {"Key": ..., "Value": ...} objects only')
        value = {item["Key"]: item["Value"] for item in value}
    if not isinstance(value, dict):
        raise EssValidationError(field_name, f"must be a mapping of option names to values, got {type(value).__name__}")
    options = []
    for key, raw in value.items():
        if not isinstance(key, str) or not key:
            raise EssValidationError(field_name, "option names must be non-empty strings")
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        if not isinstance(raw, (str, int)):
            raise EssValidationError(
                f"{field_name}[{key!r}]", f"must be a string or a boolean, got {type(raw).__name__}"
            )
        if key in REFUSED_OPTIONS and str(raw).strip().lower() in ("true", "1", "yes"):
            raise EssValidationError(f"{field_name}[{key!r}]", REFUSED_OPTIONS[key])
        options.append({"Key": key, "Value": str(raw)})
    return options


@dataclass(frozen=True)
class SealSpec:
    """A seal to create, checked: the snake_case twin of CreateSealByImage's parameters (Agent and image aside)."""

    seal_name: str
    seal_type: str = DEFAULT_SEAL_TYPE
    generate_source: str = GENERATE_SYSTEM
    seal_style: str = ""
    seal_size: str = ""
    seal_horizontal_text: str = ""
    tax_identify_code: str = ""
    seal_description: str = ""
    sub_seal_type: str = ""

    @property
    def from_image(self) -> bool:
        """An uploaded image (reviewed by the platform) rather than a system-drawn seal."""
        return self.generate_source != GENERATE_SYSTEM

    @property
    def shape(self) -> str:
        """circle or ellipse (`cycle` is the seed page's spelling of circle)."""
        return "ellipse" if self.seal_style == "ellipse" else "circle"

    @property
    def size(self) -> str:
        """The size the platform draws: the one asked for, or the API's default for the shape. For a seal from an
        image: the size asked for, or '' (the image's own)."""
        if self.from_image:
            return self.seal_size
        return self.seal_size or ("40_30" if self.shape == "ellipse" else "42_42")


def check_seal_spec(
    *,
    seal_name: Any,
    seal_type: Any = None,
    generate_source: Any = None,
    seal_style: Any = None,
    seal_size: Any = None,
    seal_horizontal_text: Any = None,
    tax_identify_code: Any = None,
    seal_description: Any = None,
    sub_seal_type: Any = None,
    has_image: bool = False,
) -> SealSpec:
    """Every CreateSealByImage rule that can be checked without the API. None or '' means "not given":
    seal_type defaults to CONTRACT, generate_source to system-drawn unless an image is given."""
    name = require_name("seal_name", seal_name, max_len=MAX_SEAL_NAME)
    seal_type = require_choice("seal_type", seal_type or DEFAULT_SEAL_TYPE, SEAL_TYPES)
    default_source = "" if has_image else GENERATE_SYSTEM
    source = require_choice(
        "generate_source", default_source if generate_source is None else generate_source, GENERATE_SOURCES
    )
    if not source and not has_image:
        raise EssValidationError(
            "generate_source", f"is empty, so a seal image is required: set {GENERATE_SYSTEM!r} or give an image"
        )
    if source and has_image:
        raise EssValidationError("generate_source", f"{GENERATE_SYSTEM!r} draws the seal: give no image with it")
    style = require_choice("seal_style", seal_style or "", ("",) + SEAL_STYLES)
    if not source:
        # A seal from an image (Go SDK v1.3.143): SealStyle is ignored, so it is not sent; SealSize is the image's
        # printed size, W_H in mm. The shape and size rules below are those of the platform's drawing.
        style = ""
        size = check_image_seal_size(seal_size) if seal_size else ""
    else:
        size = require_choice("seal_size", seal_size or "", ("",) + SEAL_SIZES)
    if style == "ellipse" and seal_type in CIRCLE_ONLY_TYPES:
        raise EssValidationError("seal_style", f"{seal_type} seals must be circles, not ellipse")
    if size and source:
        allowed = ELLIPSE_SIZES if style == "ellipse" else CIRCLE_SIZES
        if size not in allowed:
            shape = "ellipse" if style == "ellipse" else "circle"
            raise EssValidationError("seal_size", f"{size} is not a {shape} size; use one of {', '.join(allowed)}")
    text = require_name("seal_horizontal_text", seal_horizontal_text or "", max_len=MAX_HORIZONTAL_TEXT, min_len=0)
    # Required by the API for INVOICE seals of an enterprise verified by an authorization letter; the API decides.
    tax = require_text("tax_identify_code", tax_identify_code, max_len=64, min_len=0)
    if tax and seal_type != "INVOICE":
        raise EssValidationError("tax_identify_code", "is only used with seal_type 'INVOICE'")
    description = require_text("seal_description", seal_description, max_len=1000, min_len=0)
    # Where SubSealType takes effect (OTHER seals drawn by the system, apps the vendor enabled) is the API's to say;
    # its docs only ask not to send a horizontal text with it.
    sub_type = require_text("sub_seal_type", sub_seal_type, max_len=64, min_len=0)
    if sub_type and text:
        raise EssValidationError("sub_seal_type", "must not be combined with seal_horizontal_text (the API's rule)")
    return SealSpec(name, seal_type, source, style, size, text, tax, description, sub_type)


@dataclass(frozen=True)
class Tenant:
    """One onboarding entry: an enterprise, its operator, one seal and who gets it."""

    proxy_organization_open_id: str
    operator_open_id: str
    seal: SealSpec
    user_ids: tuple[str, ...]
    seal_image_path: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What makes a tenant entry unique: the enterprise and the seal name (look-alike names count as one)."""
        return (self.proxy_organization_open_id, name_key(self.seal.seal_name))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for XCom): the manifest's keys, with the defaults filled in (the tax code only when
        given, so that the fingerprints of entries without one stay as they were)."""
        extra = {"tax_identify_code": self.seal.tax_identify_code} if self.seal.tax_identify_code else {}
        return extra | {
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

    def fingerprint(self) -> str:
        """Identity and content (enterprise, operator, seal spec, image path, users): what an attempt journal
        keys a finished tenant by, so that an edited or reordered manifest is never mistaken for the old one."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


#: Manifest keys: the first four are required, the others optional (defaults in `check_seal_spec`).
TENANT_KEYS = (
    "proxy_organization_open_id",
    "operator_open_id",
    "seal_name",
    "seal_type",
    "generate_source",
    "seal_style",
    "seal_size",
    "seal_horizontal_text",
    "seal_image_path",
    "user_ids",
    "tax_identify_code",
)


class DuplicateKeys(dict):
    """A JSON object that named some key twice (see `json_object_pairs`); the duplicates are kept apart so that
    `check_tenant` refuses the entry instead of silently keeping the last value."""

    duplicates: tuple[str, ...] = ()


def json_object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads(object_pairs_hook=...)`: an object with a repeated key becomes a `DuplicateKeys`."""
    result: dict[str, Any] = {}
    repeated: list[str] = []
    for key, value in pairs:
        if key in result:
            repeated.append(key)
        result[key] = value
    if not repeated:
        return result
    marked = DuplicateKeys(result)
    marked.duplicates = tuple(dict.fromkeys(repeated))
    return marked


def check_tenant(entry: Any, base_dir: str | Path | None = None, check_image: bool = True) -> Tenant:
    """A manifest entry, checked; the image file (if any) is checked but not kept in memory.

    `check_image=False` skips reading the file, for callers that load (and so check) it themselves.
    """
    if not isinstance(entry, dict):
        raise EssValidationError("entry", f"must be a JSON object, got {type(entry).__name__}")
    if isinstance(entry, DuplicateKeys):
        raise EssValidationError(entry.duplicates[0], "is given more than once in this entry")
    unknown = sorted(set(entry) - set(TENANT_KEYS))
    if unknown:
        raise EssValidationError(unknown[0], f"is not a known key; known keys are {', '.join(TENANT_KEYS)}")
    org = require_open_id("proxy_organization_open_id", entry.get("proxy_organization_open_id"))
    operator = require_open_id("operator_open_id", entry.get("operator_open_id"))
    image_path = entry.get("seal_image_path") or ""
    if not isinstance(image_path, str):
        raise EssValidationError("seal_image_path", f"must be a string, got {type(image_path).__name__}")
    if image_path and check_image:
        load_seal_image(image_path, None, base_dir)  # fail now, before any call, on a bad file
    spec = check_seal_spec(
        seal_name=entry.get("seal_name"),
        seal_type=entry.get("seal_type"),
        generate_source=entry.get("generate_source"),
        seal_style=entry.get("seal_style"),
        seal_size=entry.get("seal_size"),
        seal_horizontal_text=entry.get("seal_horizontal_text"),
        tax_identify_code=entry.get("tax_identify_code"),
        has_image=bool(image_path),
    )
    users = parse_user_ids(entry.get("user_ids"))
    return Tenant(org, operator, spec, tuple(users), image_path)


# -- a run's conf: refuse keys no Param declares
# Airflow merges a run's conf into its params whatever the keys, so a misspelt key (`seal_nmae`) would be ignored
# silently and the run would go on with the default.


def unknown_keys(conf: Mapping[str, Any] | None, known: Iterable[str]) -> list[str]:
    """The keys of `conf` that are not in `known`, sorted."""
    known_set = set(known)
    return sorted(key for key in (conf or {}) if key not in known_set)


def check_conf(conf: Mapping[str, Any] | None, known: Iterable[str]) -> None:
    """Raise `EssValidationError` if `conf` holds a key `known` does not: names each unknown key, the known
    key it most resembles, and the full list of known keys."""
    known_sorted = sorted(known)
    bad = unknown_keys(conf, known_sorted)
    if not bad:
        return
    described = []
    for key in bad:
        close = difflib.get_close_matches(str(key), known_sorted, n=1, cutoff=0.6)
        described.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    plural = "s" if len(bad) > 1 else ""
    raise EssValidationError(
        "conf", f"unknown key{plural} {', '.join(described)}; known keys: {', '.join(known_sorted)}"
    )
