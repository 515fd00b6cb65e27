"""A PNG drawing of a system-generated seal, served as its preview `ImageUrl`."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

_RED = (200, 16, 32, 255)
_PIXELS_PER_MM = 8


def draw_seal(name: str, style: str, size: str, horizontal_text: str = "") -> bytes:
    """Ring (or ellipse), star and text, sized from `SealSize` in mm."""
    width_mm, height_mm = (int(part) for part in size.split("_"))
    width, height = width_mm * _PIXELS_PER_MM, height_mm * _PIXELS_PER_MM
    img = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    stroke = max(4, width // 40)
    draw.ellipse((stroke, stroke, width - stroke, height - stroke), outline=_RED, width=stroke)
    cx, cy = width / 2, height / 2
    if style != "ellipse":
        draw.regular_polygon((cx, cy, width / 7), n_sides=5, fill=_RED)  # a filled pentagon stands in for the star
    font = ImageFont.load_default(size=max(12, width // 14))  # bundled font: no CJK glyphs, shape only
    draw.text((cx, height * 0.28), name, fill=_RED, font=font, anchor="mm")
    if horizontal_text:
        draw.text((cx, height * 0.72), horizontal_text, fill=_RED, font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
