"""OSC 1.0 packets -> (time, address, arguments), strictly and quietly.

python-osc's parser logs every bad bundle element on the root logger (a garbage flood would
flood the log) and lets some errors through as other exceptions; vj parses itself: anything
that is not well-formed raises OscFormatError, which the server counts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMMEDIATELY = 0.0  # a bundle time of 1 (the "immediately" time tag) or a plain message
NTP_EPOCH = 2208988800  # seconds from 1900 (OSC time tags) to 1970 (Unix time)
MAX_DEPTH = 8  # nested bundles


class OscFormatError(ValueError):
    pass


@dataclass(frozen=True)
class OscMessage:
    address: str
    args: tuple[object, ...]
    time: float = IMMEDIATELY  # Unix time to apply it at (0: now)


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.find(b"\x00", at)
    if end < 0:
        raise OscFormatError("unterminated string")
    try:
        text = data[at:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OscFormatError("a string that is not UTF-8") from exc
    return text, (end + 4) & ~3


def _take(data: bytes, at: int, size: int) -> int:
    if at + size > len(data):
        raise OscFormatError("truncated argument")
    return at + size


def parse_message(data: bytes, time: float = IMMEDIATELY) -> OscMessage:
    if not data.startswith(b"/"):
        raise OscFormatError("an address must start with /")
    address, at = _string(data, 0)
    if at >= len(data):
        return OscMessage(address, (), time)  # no type tag string: no arguments (old senders)
    tags, at = _string(data, at)
    if not tags.startswith(","):
        raise OscFormatError("the type tag string must start with ,")
    args: list[object] = []
    for tag in tags[1:]:
        if tag in "if":
            end = _take(data, at, 4)
            args.append(struct.unpack(">i" if tag == "i" else ">f", data[at:end])[0])
        elif tag in "hd":
            end = _take(data, at, 8)
            args.append(struct.unpack(">q" if tag == "h" else ">d", data[at:end])[0])
        elif tag in "sS":
            text, end = _string(data, at)
            args.append(text)
        elif tag == "b":
            size_end = _take(data, at, 4)
            (size,) = struct.unpack(">i", data[at:size_end])
            if size < 0:
                raise OscFormatError("a blob of negative size")
            end = _take(data, size_end, (size + 3) & ~3)
            args.append(bytes(data[size_end : size_end + size]))
        elif tag in "TF":
            args.append(tag == "T")
            end = at
        elif tag in "NI":
            args.append(None)
            end = at
        elif tag in "crm":
            end = _take(data, at, 4)
            args.append(bytes(data[at:end]))
        elif tag == "t":
            end = _take(data, at, 8)
            args.append(bytes(data[at:end]))
        else:
            raise OscFormatError(f"unknown type tag {tag!r}")
        at = end
    if at != len(data):
        raise OscFormatError("bytes after the last argument")
    return OscMessage(address, tuple(args), time)


_INT, _FLOAT = struct.Struct(">i").unpack_from, struct.Struct(">f").unpack_from
_TAG_I, _TAG_F, _NO_TAGS = b",i\x00\x00", b",f\x00\x00", b",\x00\x00\x00"


def parse_simple(data: bytes) -> tuple[str, int | float | None] | None:
    """The datagram nearly every controller sends, quickly: a plain message (not a bundle) with
    one `i` or `f` argument, or none. (address, the argument or None); None for anything else,
    malformed or not, which parse_packet then reads (or refuses).

    Whenever this answers, parse_packet reads the same datagram as one message with that address
    and those arguments (tests/control/test_osc.py checks both on a corpus): the same address
    rules (starts with /, ends at the first NUL, UTF-8), the same 4-byte alignment, and exactly the
    type tags and size it reads."""
    end = data.find(b"\x00")
    if end <= 0 or data[0] != 0x2F:  # "/"
        return None
    at = (end + 4) & ~3
    size = len(data)
    first: int | float | None
    if at >= size:
        first = None  # no type tag string: no arguments (old senders)
    elif size == at + 8:
        tags = data[at : at + 4]
        if tags == _TAG_F:
            first = _FLOAT(data, at + 4)[0]
        elif tags == _TAG_I:
            first = _INT(data, at + 4)[0]
        else:
            return None
    elif size == at + 4 and data[at:size] == _NO_TAGS:
        first = None
    else:
        return None
    try:
        return data[:end].decode("utf-8"), first
    except UnicodeDecodeError:
        return None


def parse_packet(data: bytes, depth: int = 0) -> list[OscMessage]:
    """Every message in a datagram, with its bundle's time (nested bundles flattened)."""
    if data.startswith(b"#bundle\x00"):
        if depth > MAX_DEPTH or len(data) < 16:
            raise OscFormatError("a bundle too short or nested too deep")
        seconds, fraction = struct.unpack(">II", data[8:16])
        time = IMMEDIATELY if (seconds, fraction) == (0, 1) else seconds - NTP_EPOCH + fraction / 2**32
        out: list[OscMessage] = []
        at = 16
        while at < len(data):
            size_end = _take(data, at, 4)
            (size,) = struct.unpack(">i", data[at:size_end])
            if size <= 0 or size % 4:
                raise OscFormatError("a bundle element of a bad size")
            end = _take(data, size_end, size)
            for message in parse_packet(data[size_end:end], depth + 1):
                # an inner bundle is never due before its outer one
                out.append(message if message.time >= time else OscMessage(message.address, message.args, time))
            at = end
        return out
    return [parse_message(data)]


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (4 - len(data) % 4)


def encode_message(address: str, *args: object) -> bytes:
    """One OSC message: ints as i, floats as f, strings as s, booleans as T/F, bytes as b."""
    tags, payload = [","], []
    for a in args:
        if isinstance(a, bool):
            tags.append("T" if a else "F")
        elif isinstance(a, int):
            tags.append("i")
            payload.append(struct.pack(">i", a))
        elif isinstance(a, float):
            tags.append("f")
            payload.append(struct.pack(">f", a))
        elif isinstance(a, str):
            tags.append("s")
            payload.append(_pad(a.encode("utf-8")))
        elif isinstance(a, bytes):
            tags.append("b")
            payload.append(struct.pack(">i", len(a)) + a + b"\x00" * (-len(a) % 4))
        else:
            raise TypeError(f"OSC cannot carry {type(a).__name__}")
    return _pad(address.encode("utf-8")) + _pad("".join(tags).encode()) + b"".join(payload)
