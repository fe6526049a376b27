"""Hostile and mutated image files, built in memory: shared by the quick fuzz test and the long
run in benchmarks/fuzz_images.py.

`seed_images()` gives small valid files of every format and mode we read; `mutate()` breaks one
the ways files break in the wild or at an attacker's hand (byte flips, truncation, edited
headers and dimensions, TIFF tag types, spliced chunks, the wrong extension). The hand-made bombs
declare huge sizes in a few bytes, as the files of issue 11 did.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp", "GIF": ".gif"}


# --- hand-made hostile files -------------------------------------------------------------------

def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_declaring(width: int, height: int, rows: int = 4) -> bytes:
    """An RGBA PNG whose header declares width x height but whose data holds a few zero rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 4 * width) * rows, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def png_zeros_streamed(width: int, height: int, out: io.BufferedIOBase) -> None:
    """A complete, valid RGBA PNG of zeros written row by row (the 1.5 MB file of 20000x20000)."""
    out.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)))
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 4 * width)
    parts = [compressor.compress(row) for _ in range(height)]
    out.write(_png_chunk(b"IDAT", b"".join(parts) + compressor.flush()))
    out.write(_png_chunk(b"IEND", b""))


def _riff(chunks: list[bytes]) -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _webp_chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def _vp8l_solid(width: int, height: int) -> bytes:
    """A lossless bitstream of one colour: it decodes to any size from a dozen bytes."""
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (10, 20, 30, 255)).save(buffer, "WEBP", lossless=True)
    data = buffer.getvalue()
    start = data.index(b"VP8L")
    payload = bytearray(data[start + 8 : start + 8 + struct.unpack_from("<I", data, start + 4)[0]])
    bits = int.from_bytes(payload[1:5], "little") & ~((1 << 28) - 1)
    payload[1:5] = (bits | (width - 1) | ((height - 1) << 14)).to_bytes(4, "little")
    return bytes(payload)


def webp_declaring(width: int, height: int) -> bytes:
    """A still lossless WebP of width x height (at most 16384) in under 40 bytes."""
    return _riff([_webp_chunk(b"VP8L", _vp8l_solid(width, height))])


def animated_webp_declaring(width: int, height: int, frames: int = 2) -> bytes:
    """An animated WebP whose canvas is width x height (up to 2**24 each) with 1x1 frames."""
    flags = 0x02 | 0x10  # animation, alpha
    vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    frame = bytes(12) + (100).to_bytes(3, "little") + b"\x00"  # x, y, w-1, h-1, 100 ms, flags
    anmf = [_webp_chunk(b"ANMF", frame + _webp_chunk(b"VP8L", _vp8l_solid(1, 1))) for _ in range(frames)]
    return _riff([_webp_chunk(b"VP8X", vp8x), _webp_chunk(b"ANIM", struct.pack("<IH", 0xFFFFFFFF, 0)), *anmf])


def _tiff_entries(data: bytes) -> Iterator[tuple[int, int]]:
    """(offset of the entry, tag) for each entry of the first IFD of a little-endian TIFF."""
    ifd = struct.unpack_from("<I", data, 4)[0]
    for index in range(struct.unpack_from("<H", data, ifd)[0]):
        offset = ifd + 2 + 12 * index
        yield offset, struct.unpack_from("<H", data, offset)[0]


def tiff_ifdrational() -> bytes:
    """A TIFF whose StripOffsets is a RATIONAL: Pillow raises TypeError ('IFDRational' object
    cannot be interpreted as an integer), which once aborted a whole folder."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    rational_at = len(data)
    data += struct.pack("<II", 8, 1)
    for offset, tag in _tiff_entries(bytes(data)):
        if tag == 273:  # StripOffsets
            struct.pack_into("<HHII", data, offset, tag, 5, 1, rational_at)
    return bytes(data)


def float_tiff(values: np.ndarray) -> bytes:
    """A mode 'F' (32-bit float) TIFF holding these values, NaN and infinity included."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(values, np.float32), mode="F").save(buffer, format="TIFF")
    return buffer.getvalue()


# --- valid seeds -------------------------------------------------------------------------------

def _picture(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1), (xs + ys) % 256], -1)
    noisy = np.clip(rgb + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(noisy, "RGB")


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def seed_images() -> list[tuple[str, bytes]]:
    """(format, bytes) of small valid files: every format in the modes and encodings we read."""
    rgb = _picture(23, 17, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: exercises the orientation path
    frames = [_picture(12, 10, s).convert("P") for s in range(3)]
    seeds: list[tuple[str, bytes]] = [
        ("PNG", _save(rgb, "PNG")),
        ("PNG", _save(rgb.convert("L"), "PNG")),
        ("PNG", _save(rgb.convert("RGBA"), "PNG")),
        ("PNG", _save(rgb.convert("P"), "PNG", transparency=0)),
        ("PNG", _save(rgb.convert("LA"), "PNG")),
        ("PNG", _save(rgb.convert("1"), "PNG")),
        ("PNG", _save(Image.fromarray(np.arange(391, dtype=np.uint16).reshape(17, 23) * 160), "PNG")),
        ("PNG", _save(rgb, "PNG", optimize=True)),
        ("JPEG", _save(rgb, "JPEG", quality=80)),
        ("JPEG", _save(rgb.convert("L"), "JPEG")),
        ("JPEG", _save(rgb, "JPEG", progressive=True)),
        ("JPEG", _save(rgb.convert("CMYK"), "JPEG")),
        ("JPEG", _save(rgb, "JPEG", exif=exif.tobytes())),
        ("BMP", _save(rgb, "BMP")),
        ("BMP", _save(rgb.convert("P"), "BMP")),
        ("BMP", _save(rgb.convert("1"), "BMP")),
        ("TIFF", _save(rgb, "TIFF")),
        ("TIFF", _save(rgb.convert("L"), "TIFF", compression="tiff_lzw")),
        ("TIFF", _save(rgb, "TIFF", compression="tiff_adobe_deflate")),
        ("TIFF", _save(rgb.convert("CMYK"), "TIFF", compression="packbits")),
        ("TIFF", float_tiff(np.linspace(0, 1, 391).reshape(17, 23))),
        ("TIFF", _save(rgb, "TIFF", save_all=True, append_images=[rgb.convert("RGB")])),
        ("WEBP", _save(rgb, "WEBP", quality=70)),
        ("WEBP", _save(rgb.convert("RGBA"), "WEBP", lossless=True)),
        ("WEBP", _save(frames[0].convert("RGB"), "WEBP", save_all=True, append_images=[f.convert("RGB") for f in frames[1:]])),
        ("GIF", _save(rgb.convert("P"), "GIF")),
        ("GIF", _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)),
    ]
    return seeds


# --- mutations ---------------------------------------------------------------------------------

_INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _size_fields(fmt: str, data: bytes) -> list[tuple[int, str]]:
    """(offset, struct format) of the width/height fields of a file's header."""
    try:
        if fmt == "PNG":
            return [(16, ">I"), (20, ">I")]
        if fmt == "BMP":
            return [(18, "<i"), (22, "<i")]
        if fmt == "GIF":
            return [(6, "<H"), (8, "<H")]
        if fmt == "JPEG":
            for index in range(2, len(data) - 9):
                if data[index] == 0xFF and data[index + 1] in (0xC0, 0xC1, 0xC2):
                    return [(index + 5, ">H"), (index + 7, ">H")]
        if fmt == "WEBP":
            if data[12:16] == b"VP8X":
                return [(24, "<H"), (27, "<H")]
            if data[12:16] == b"VP8 ":
                return [(26, "<H"), (28, "<H")]
            return [(21, "<H"), (23, "<H")]
        if fmt == "TIFF":
            return [(offset + 8, "<I") for offset, tag in _tiff_entries(data) if tag in (256, 257)]
    except struct.error:
        return []
    return []


def _flip(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _truncate(data: bytearray, rng: random.Random) -> None:
    del data[rng.randrange(len(data)) :]


def _header(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        offset = rng.randrange(min(len(data), 128))
        value = rng.choice(_INTERESTING).to_bytes(4, rng.choice(("little", "big")))
        data[offset : offset + rng.randint(1, 4)] = value[: rng.randint(1, 4)]


def _dims(fmt: str) -> Callable[[bytearray, random.Random], None]:
    def edit(data: bytearray, rng: random.Random) -> None:
        for offset, layout in _size_fields(fmt, bytes(data)):
            if rng.random() < 0.7 and offset + struct.calcsize(layout) <= len(data):
                limit = 2 ** (8 * struct.calcsize(layout) - (1 if layout[-1].islower() else 0)) - 1
                value = rng.choice([0, 1, rng.randint(2, 5000), rng.randint(5000, 70000), limit])
                if layout[-1].islower() and rng.random() < 0.3:
                    value = -value
                struct.pack_into(layout, data, offset, min(value, limit))
    return edit


def _tiff_types(data: bytearray, rng: random.Random) -> None:
    try:
        entries = list(_tiff_entries(bytes(data)))
    except struct.error:
        return
    for offset, _tag in rng.sample(entries, k=min(len(entries), rng.randint(1, 3))):
        if rng.random() < 0.6:  # the entry's type: mostly the confusing ones (ASCII, RATIONAL, FLOAT ...)
            struct.pack_into("<H", data, offset + 2, rng.choice((2, 5, 10, 11, 12, rng.randint(0, 18))))
        else:
            struct.pack_into("<I", data, offset + 4, rng.choice(_INTERESTING))  # its count


def _splice(data: bytearray, rng: random.Random) -> None:
    start = rng.randrange(len(data))
    piece = bytes(data[start : start + rng.randint(1, 64)])
    at = rng.randrange(len(data))
    data[at:at] = piece if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 32))


def mutate(fmt: str, data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutation of a seed: returns (what was done, the new bytes)."""
    choices: list[tuple[str, Callable[[bytearray, random.Random], None]]] = [
        ("flip", _flip), ("truncate", _truncate), ("header", _header), ("dims", _dims(fmt)), ("splice", _splice),
    ]
    if fmt == "TIFF":
        choices += [("tiff-types", _tiff_types)] * 2
    out = bytearray(data)
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name, operation = rng.choice(choices)
        if out:
            operation(out, rng)
        names.append(name)
    return "+".join(names), bytes(out)


def cases(count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """`count` (file name, bytes) cases, reproducible from `seed`; about one in ten has the suffix
    of another format, one in a hundred is empty."""
    rng = random.Random(seed)
    seeds = seed_images()
    suffixes = list(SUFFIX.values())
    for index in range(count):
        fmt, data = rng.choice(seeds)
        how, mutated = mutate(fmt, data, rng)
        if rng.random() < 0.01:
            how, mutated = "empty", b""
        suffix = rng.choice(suffixes) if rng.random() < 0.1 else SUFFIX[fmt]
        yield f"{index:05d}_{fmt.lower()}_{how}{suffix}", mutated
