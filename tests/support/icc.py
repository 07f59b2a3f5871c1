"""A wide-gamut ICC profile for tests, written byte by byte (ImageCms can only create sRGB, LAB
and XYZ): Adobe RGB (1998), a matrix/TRC v2 display profile with its published D50 colorants
and gamma 563/256, the profile a camera's "Adobe RGB" setting tags its JPEGs with."""

from __future__ import annotations

import struct

D50 = (0.9642, 1.0, 0.8249)
# Adobe RGB (1998), chromatically adapted to D50 (the PCS), as in Adobe's own profile.
ADOBE_RGB = {"r": (0.60974, 0.31111, 0.01947), "g": (0.20528, 0.62567, 0.06087), "b": (0.14919, 0.06322, 0.74457)}
ADOBE_GAMMA = 563 / 256


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(values: tuple[float, float, float]) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in values)


def _curve(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_)) + ascii_ + bytes(8) + bytes(3) + bytes(67)


def _text(text: str) -> bytes:
    return b"text" + bytes(4) + text.encode("ascii") + b"\0"


def adobe_rgb_profile() -> bytes:
    """The profile's bytes, which LittleCMS (Pillow's ImageCms) reads as an RGB display profile."""
    curve = _curve(ADOBE_GAMMA)
    tags = [(b"desc", _desc("Adobe RGB (1998) compatible, test")), (b"cprt", _text("No copyright, test data")),
            (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(ADOBE_RGB["r"])), (b"gXYZ", _xyz(ADOBE_RGB["g"])),
            (b"bXYZ", _xyz(ADOBE_RGB["b"])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = [], b""
    for signature, payload in tags:
        payload += bytes(-len(payload) % 4)
        table.append(struct.pack(">4sII", signature, offset + len(data), len(payload)))
        data += payload
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + bytes(4) + bytes(4) + bytes(4) + bytes(4)
              + bytes(8) + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data
