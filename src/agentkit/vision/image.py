"""Images made ready for a vision model: read, checked, turned upright, flattened, downscaled, encoded.

``prepare_image(path)`` returns a ``PreparedImage`` whose bytes every backend accepts: JPEG or PNG (the formats
that OpenAI, Ollama's OpenAI layer and the stb_image decoder inside llama.cpp's server all read — stb_image has
no WEBP decoder), RGB or greyscale, upright, no larger than ``ImageLimits``. The MIME type comes from the bytes
(Pillow's detected format), never from the file name. A file that is small enough and already in that form is
sent byte for byte; anything else is re-encoded, and ``ImageInfo.changes`` says what was done.

Pillow comes with the ``vision`` extra and is imported only here, on use.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentkit.errors import ConfigError, InputError
from agentkit.extras import require

#: formats agentkit reads (Pillow's names); MPO is the multi-picture JPEG that phone cameras write
READABLE = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF")
#: formats sent as they are when nothing else needs changing
_PASS_THROUGH = {"JPEG": "image/jpeg", "PNG": "image/png"}
_LOSSLESS = {"PNG", "GIF", "BMP", "TIFF"}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageLimits:
    """How large an image may be. ``max_side``/``max_bytes`` bound what is sent (larger images are downscaled and
    re-encoded); ``max_file_bytes``/``max_pixels`` bound what is read at all (decompression bombs, huge files)."""

    max_side: int = 1536
    max_bytes: int = 4 * 1024 * 1024
    max_file_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 100_000_000
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.max_side < 32:
            raise ConfigError(f"max_side={self.max_side} is too small", "use at least 32 pixels, e.g. 1536")
        if self.max_bytes < 16 * 1024:
            raise ConfigError(f"max_bytes={self.max_bytes} is too small", "use at least 16 KiB, e.g. 4 MiB")
        if not 1 <= self.jpeg_quality <= 95:
            raise ConfigError(f"jpeg_quality={self.jpeg_quality} is out of range", "use 1..95, e.g. 90")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ImageInfo:
    """What was sent and where it came from; ``changes`` lists every transformation (empty: sent as read)."""

    name: str
    mime: str
    width: int
    height: int
    bytes: int
    source_format: str
    source_width: int
    source_height: int
    source_bytes: int
    #: of the file as read: identifies the attachment across sessions
    sha256: str
    changes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changes"] = list(self.changes)
        return data

    def summary(self) -> str:
        """``photo.jpg (image/jpeg, 1536×1152; downscaled from 4032×3024)``."""
        changes = f"; {', '.join(self.changes)}" if self.changes else ""
        return f"{self.name} ({self.mime}, {self.width}×{self.height}{changes})"


@dataclass(frozen=True)
class PreparedImage:
    """Encoded image bytes and their description. Invariant: ``info.mime`` names the format of ``data``."""

    data: bytes = field(repr=False)
    info: ImageInfo

    def base64(self) -> str:
        """Standard base64 with padding (what Ollama's ``images`` and data URLs carry)."""
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """``data:image/jpeg;base64,...`` (RFC 2397), for OpenAI-style ``image_url`` parts."""
        return f"data:{self.info.mime};base64,{self.base64()}"


def display_name(name: str) -> str:
    """A file name safe to put in a prompt or a log line: one line, no control characters, at most 80 characters."""
    name = "".join(ch if ch.isprintable() else " " for ch in name)
    name = " ".join(name.split()) or "image"
    return name if len(name) <= 80 else name[:77] + "..."


def prepare_image(source: str | Path | bytes, limits: ImageLimits | None = None, name: str | None = None) -> PreparedImage:
    """Read ``source`` (a path or the file's bytes) and make it sendable; see the module docstring.

    Raises InputError, with one line naming the file, for a missing or unreadable file, a file that is not an
    image, a format agentkit does not read, a truncated image, or one beyond ``max_file_bytes``/``max_pixels``.
    """
    limits = limits or ImageLimits()
    data, label = _read(source, limits, name)
    image_module = require("PIL.Image", "vision", "reading images")
    from PIL import ImageOps

    with warnings.catch_warnings():
        # Pillow warns above its own pixel limit; ours (checked before decoding) decides.
        warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
        try:
            img = image_module.open(io.BytesIO(data))
        except image_module.DecompressionBombError:
            raise InputError(f"{label} is too large to decode safely", f"use an image under {limits.max_pixels:,} pixels") from None
        except (image_module.UnidentifiedImageError, OSError, ValueError):
            raise InputError(f"{label} is not an image agentkit can read", "attach a JPEG, PNG, WEBP, GIF, BMP or TIFF image") from None
        fmt = (img.format or "").upper()
        if fmt not in READABLE:
            raise InputError(f"{label} is in {fmt or 'an unknown'} format, which agentkit does not read", "convert it to JPEG or PNG (readable: JPEG, PNG, WEBP, GIF, BMP, TIFF)")
        width, height = img.size
        if width * height > limits.max_pixels:
            raise InputError(f"{label} has {width}×{height} pixels, more than the {limits.max_pixels:,} allowed", "downscale it before attaching it")
        try:
            return _encode(img, data, fmt, display_name(label), limits, ImageOps)
        except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt pixel data shows only when decoding
            raise InputError(f"{label} is damaged and cannot be decoded ({exc})", "attach an intact copy of the image") from None


def _read(source: str | Path | bytes, limits: ImageLimits, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        label = name or "image"
        if len(source) > limits.max_file_bytes:
            raise InputError(f"{label} is {len(source) / 2**20:.0f} MiB, more than the {limits.max_file_bytes / 2**20:.0f} MiB allowed", "attach a smaller image")
        return source, label
    path = Path(source).expanduser()
    label = name or path.name or str(path)
    if not path.is_file():
        raise InputError(f"no image file at {path}", "check the path" if not path.exists() else "attach a file, not a folder")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(f"{label} is {size / 2**20:.0f} MiB, more than the {limits.max_file_bytes / 2**20:.0f} MiB allowed", "attach a smaller image")
    try:
        return path.read_bytes(), label
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from None


def _encode(img: Any, data: bytes, fmt: str, name: str, limits: ImageLimits, image_ops: Any) -> PreparedImage:
    source_size = img.size
    changes: list[str] = []
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        img.seek(0)
        changes.append(f"first of {frames} frames")
    orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    too_big = max(source_size) > limits.max_side or len(data) > limits.max_bytes
    if fmt == "JPEG" and max(source_size) > limits.max_side:
        # Decode at 1/2, 1/4 or 1/8 scale while that still covers the target size: a 12-megapixel photo decodes
        # and resizes about 3 times faster. draft() keeps both sides >= the size asked, so ask for the target.
        ratio = limits.max_side / max(source_size)
        img.draft("RGB", (math.ceil(source_size[0] * ratio), math.ceil(source_size[1] * ratio)))
    img.load()
    plain = img.mode in ("RGB", "L") and frames == 1 and orientation == 1
    if fmt in _PASS_THROUGH and plain and not too_big:
        width, height = img.size
        info = ImageInfo(name, _PASS_THROUGH[fmt], width, height, len(data), fmt, source_size[0], source_size[1], len(data), _sha256(data))
        return PreparedImage(data, info)
    if orientation != 1:
        img = image_ops.exif_transpose(img)
        changes.append("turned upright (EXIF orientation)")
    img, change = _to_rgb_or_grey(img)
    if change:
        changes.append(change)
    if fmt not in _PASS_THROUGH:
        changes.append(f"converted from {fmt}")
    upright = (source_size[1], source_size[0]) if orientation in (5, 6, 7, 8) else source_size  # these orientations swap the sides
    return _fit(img, fmt, name, data, source_size, upright, limits, changes)


def _to_rgb_or_grey(img: Any) -> tuple[Any, str]:
    """The image in RGB or L, and what that changed ("" for nothing). Transparent pixels become white, as a viewer
    on a white page shows them (a bare ``convert("RGB")`` turns them black: a dark logo on a transparent
    background would become a black square)."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB"), "transparency flattened onto white"
    if img.mode in ("RGB", "L"):
        return img, ""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale: scale to 8 bits rather than clip at 255
        return img.point(lambda v: v / 256).convert("L"), f"{img.mode} converted to 8-bit greyscale"
    if img.mode in ("P", "1"):  # palette and bilevel images: no information lost
        return img.convert("RGB"), ""
    return img.convert("RGB"), f"{img.mode} converted to RGB"


def _fit(img: Any, fmt: str, name: str, data: bytes, source_size: tuple[int, int], upright: tuple[int, int], limits: ImageLimits,
         changes: list[str]) -> PreparedImage:
    """Downscale to ``max_side`` and encode (PNG for lossless sources while it fits, else JPEG); while the result is
    over ``max_bytes``, shrink by a quarter and try again. ``upright``: the source's size as displayed."""
    from PIL import Image

    side = limits.max_side
    for _ in range(12):
        scaled = img
        if max(img.size) > side:
            scaled = img.copy()
            scaled.thumbnail((side, side), Image.Resampling.LANCZOS)
        for out_fmt in (("PNG", "JPEG") if fmt in _LOSSLESS else ("JPEG",)):
            buffer = io.BytesIO()
            if out_fmt == "PNG":
                scaled.save(buffer, "PNG", optimize=False)
            else:
                scaled.save(buffer, "JPEG", quality=limits.jpeg_quality, optimize=True)
            encoded = buffer.getvalue()
            if len(encoded) <= limits.max_bytes:
                done = list(changes)
                if scaled.size != upright:
                    done.append(f"downscaled from {upright[0]}×{upright[1]}")
                if fmt in _PASS_THROUGH and out_fmt != fmt:
                    done.append(f"re-encoded as {out_fmt}")
                info = ImageInfo(name, _PASS_THROUGH[out_fmt], scaled.width, scaled.height, len(encoded), fmt, source_size[0], source_size[1],
                                 len(data), _sha256(data), tuple(done))
                return PreparedImage(encoded, info)
        side = max(32, int(max(scaled.size) * 0.75))
    raise InputError(f"{name} does not fit in {limits.max_bytes:,} bytes even when downscaled", "attach a simpler image or raise max_bytes")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
