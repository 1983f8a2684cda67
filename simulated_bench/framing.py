"""IEEE 488.2 message framing, written once for both ways to reach the simulated bench.

The in-process VISA library (:mod:`simulated_bench.visa`) and the loopback TCP server
(:mod:`simulated_bench.server`) cut what they receive into messages with
:class:`MessageFramer` and send every reply through :func:`terminate_reply`; the SCPI parser
(:mod:`simulated_bench.scpi`) splits a message into units with :func:`split_units`. So a
message is framed the same way whichever transport carried it:

- **Blocks.** ``#<n><n digits: length><bytes>`` (n = 1..9) is a definite-length block: its
  bytes may be anything (``\\n``, ``;``, quotes, NUL) and are never split or checked.
  ``#0<bytes>`` (indefinite length) runs to the end of its message: the END of a VISA write
  (EOI; a final ``\\n`` is the terminator, not data) or, on a socket, which has no END, the
  next newline. A ``#`` inside a quoted string is text.
- **Message ends** at ``\\n`` outside a block (``\\r`` before it dropped), at the end of a
  VISA write, and right after a block that nothing of its message follows (the end of the
  bytes received, or a byte other than ``; , CR LF`` blank): on GPIB, EOI on the last data
  byte ends a message, and pymeasure's ``write_binary_values`` sends no terminator after
  the block.
- **Text** outside blocks must be printable 7-bit ASCII (tab allowed), else the message is
  dropped with ``-101 Invalid character``. A message with over :data:`MAX_LINE_BYTES` of
  text, or a block whose header declares over :data:`MAX_BLOCK_BYTES`, is dropped with
  ``-363 Input buffer overrun`` up to the next newline (a block is refused from its header,
  never skipped by its declared length); framing goes on after it.
- **Replies** are one line ending in ``\\n``: control characters in a text reply (an error
  message echoing a bad command) are escaped, so the newline still ends the reply; a reply
  that begins with a block goes out byte for byte.

Messages are latin-1 text, one character per byte, so a block's bytes survive the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

from simulated_bench.scpi_errors import (
    DATA_TYPE_ERROR,
    INPUT_BUFFER_OVERRUN,
    INVALID_BLOCK_DATA,
    INVALID_CHARACTER,
    ScpiError,
)

#: text bytes (outside blocks) one message may hold
MAX_LINE_BYTES = 64 * 1024
#: data bytes one block may hold
MAX_BLOCK_BYTES = 16 * 1024 * 1024
TERMINATOR = b"\n"
#: bytes that may follow a block inside its message (more units, arguments, a terminator)
_CONTINUES_AFTER_BLOCK = b";,\r\n \t"
_LF, _CR, _HASH = 0x0A, 0x0D, 0x23
_QUOTES = (0x22, 0x27)


# ---------------------------------------------------------------- blocks
def encode_block(data: bytes) -> bytes:
    """``data`` as a definite-length block ``#<n><length><data>``."""
    length = str(len(data)).encode()
    if len(length) > 9:
        raise ValueError(f"a definite-length block holds under 1e9 bytes, got {len(data)}")
    return b"#" + str(len(length)).encode() + length + bytes(data)


def _ascii_digits(text) -> bool:
    return bool(text) and text.isascii() and text.isdigit()   # '²'.isdigit() is True


def block_header(buf, start: int):
    """The header of the block at ``buf[start]`` (``str`` or bytes).

    ``None`` if no block starts there (``#2ab`` is text: the parser reports it); else
    ``(header_size, data_size)``, ``header_size`` None when ``buf`` ends inside the header,
    ``data_size`` None for ``#0`` (data to the end of the message).
    """
    if buf[start:start + 1] != ("#" if isinstance(buf, str) else b"#"):
        return None
    digit = buf[start + 1:start + 2]
    if not digit:
        return None, None
    if not _ascii_digits(digit):
        return None
    digits = int(digit)
    if digits == 0:
        return 2, None
    length = buf[start + 2:start + 2 + digits]
    if length and not _ascii_digits(length):
        return None
    if len(length) < digits:
        return None, None
    return 2 + digits, int(length)


def block_span(message: str, start: int) -> int:
    """Characters of the block at ``message[start]`` (0 if none). A block cut short by the
    end of the message runs to its end (:func:`parse_block` then reports it)."""
    header = block_header(message, start)
    if header is None:
        return 0
    size, length = header
    rest = len(message) - start
    return rest if size is None or length is None else min(rest, size + length)


def parse_block(argument: str) -> bytes:
    """A block argument (latin-1 text) -> its data bytes; a malformed one raises ScpiError."""
    if argument[:1] != "#" or not _ascii_digits(argument[1:2]):
        raise ScpiError(DATA_TYPE_ERROR, f"expected a binary block #<n><length><data>, "
                                         f"got {argument[:12]!r}")
    size, length = block_header(argument, 0) or (None, None)
    if size is None:
        raise ScpiError(INVALID_BLOCK_DATA, f"block header {argument[:2 + int(argument[1])]!r} "
                                            f"is malformed")
    try:
        data = argument[size:].encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ScpiError(INVALID_BLOCK_DATA, f"block data holds {argument[size + exc.start]!r}, "
                                            f"which is not a byte") from None
    if length is not None and len(data) != length:
        raise ScpiError(INVALID_BLOCK_DATA, f"block declares {length} bytes but {len(data)} "
                                            f"arrived; resend the whole block")
    return data


# ---------------------------------------------------------------- inside one message
TEXT, QUOTED, BLOCK = "text", "quoted", "block"
_SPECIAL = re.compile(r"[\"'#]")


def segments(message: str) -> Iterator[tuple[str, int, int]]:
    """``(kind, start, stop)`` pieces of ``message`` in order: ``TEXT``, ``QUOTED`` strings
    (to the closing quote, or the end) and ``BLOCK`` s."""
    start = i = 0
    while match := _SPECIAL.search(message, i):
        i = match.start()
        if message[i] == "#":
            span = block_span(message, i)
            if not span:
                i += 1
                continue
            kind, stop = BLOCK, i + span
        else:
            close = message.find(message[i], i + 1)
            kind, stop = QUOTED, (len(message) if close < 0 else close + 1)
        if start < i:
            yield TEXT, start, i
        yield kind, i, stop
        start = i = stop
    if start < len(message):
        yield TEXT, start, len(message)


def block_ranges(message: str) -> list[tuple[int, int]]:
    """``(start, stop)`` of every block in ``message``."""
    return [(a, b) for kind, a, b in segments(message) if kind == BLOCK]


def split_outside(message: str, separator: str, parentheses: bool = False) -> list[str]:
    """Split on ``separator`` outside quotes, blocks and (if asked) parentheses.

    Blanks around each piece are dropped, but never inside a block: its bytes may be
    anything, blanks, ``;`` and ``,`` included.
    """
    pieces: list[str] = []
    start = depth = protected = 0                 # protected: where the last block ended
    for kind, a, b in segments(message):
        if kind == BLOCK:
            protected = b
        if kind != TEXT:
            continue
        for i in range(a, b):
            char = message[i]
            if parentheses and char == "(":
                depth += 1
            elif parentheses and char == ")":
                depth -= 1
            elif char == separator and depth <= 0:
                pieces.append(_strip_outside_block(message[start:i], protected - start))
                start = i + 1
    pieces.append(_strip_outside_block(message[start:], protected - start))
    return pieces


def _strip_outside_block(piece: str, protected_upto: int) -> str:
    keep = max(0, protected_upto)
    return (piece[:keep] + piece[keep:].rstrip()).lstrip()


def split_units(message: str) -> list[str]:
    """The ``;``-separated program units of a message, empty ones dropped."""
    return [unit for unit in split_outside(message, ";") if unit]


def _first_invalid(message: str) -> int | None:
    """Index of the first character outside blocks that is not printable ASCII or tab."""
    if message.isascii() and message.replace("\t", " ").isprintable():
        return None
    for kind, a, b in segments(message):
        if kind != BLOCK:
            for i in range(a, b):
                if not (0x20 <= ord(message[i]) <= 0x7E or message[i] == "\t"):
                    return i
    return None


# ---------------------------------------------------------------- a stream of messages
@dataclass
class FramingError:
    """A message the framer dropped: the error to queue in the instrument (no reply)."""

    error: tuple[int, str]
    detail: str


@dataclass
class MessageFramer:
    """Cuts received bytes into messages (see the module docstring).

    :meth:`feed` keeps what it cannot frame yet for the next call, as a socket needs;
    ``end=True`` says the bytes end with END (a VISA write), so nothing is kept.
    """

    buffer: bytearray = field(default_factory=bytearray)
    scan: int = 0               # bytes of ``buffer`` already scanned for this message
    text_bytes: int = 0         # of those, bytes outside blocks (what the line limit counts)
    in_quote: int = 0           # the quote byte we are inside, or 0
    discarding: bool = False    # dropping an over-long message until its newline
    block_end: int = 0          # where the last block of this message ended

    def messages(self, data: bytes, end: bool = False) -> list[str | FramingError]:
        """Messages as parser text (latin-1) and FramingErrors, in order; blank ones dropped."""
        out: list[str | FramingError] = []
        for item in self.feed(data, end):
            if isinstance(item, FramingError):
                out.append(item)
                continue
            text = item.decode("latin-1")
            if not text.strip():
                continue
            bad = _first_invalid(text)
            if bad is None:
                out.append(text)
            else:
                out.append(FramingError(INVALID_CHARACTER,
                                        f"byte 0x{ord(text[bad]):02x} at position {bad} is not "
                                        f"printable ASCII; SCPI messages are 7-bit text outside "
                                        f"binary blocks, ending in \\n"))
        return out

    def feed(self, data: bytes, end: bool = False) -> list[bytes | FramingError]:
        """Append bytes; return complete messages (bytes) and FramingErrors, in order."""
        self.buffer += data
        out = []
        while (item := self._next(end)) is not None:
            out.append(item)
        if end:                     # END: nothing carries over to the next write
            self.discarding = False
            self._restart(len(self.buffer))
        return out

    def _restart(self, consumed: int) -> None:
        del self.buffer[:consumed]
        self.scan = self.text_bytes = self.in_quote = self.block_end = 0

    def _cut(self, stop: int, consumed: int) -> bytes:
        """``buffer[:stop]`` as a message, CRs before its end dropped unless block data."""
        end = stop
        while end > self.block_end and self.buffer[end - 1] == _CR:
            end -= 1
        message = bytes(self.buffer[:end])
        self._restart(consumed)
        return message

    def _next(self, end: bool):
        buf = self.buffer
        if self.discarding:
            newline = buf.find(b"\n")
            if newline < 0:
                buf.clear()
                return None
            self._restart(newline + 1)
            self.discarding = False
        i = self.scan
        while i < len(buf):
            byte = buf[i]
            if byte == _LF:
                return self._cut(i, i + 1)
            if self.in_quote:
                if byte == self.in_quote:
                    self.in_quote = 0
            elif byte in _QUOTES:
                self.in_quote = byte
            elif byte == _HASH and (header := block_header(buf, i)) is not None:
                size, length = header
                if size is None:
                    if end:                     # the write ended inside the header
                        self.block_end = len(buf)
                        break
                    self.scan = i
                    return None                 # wait for the length digits
                if length is None:
                    if end:                     # '#0': data to the END; a final LF ends it
                        stop = len(buf) - (buf[-1] == _LF)
                        self.block_end = stop
                        return self._cut(stop, len(buf))
                elif length > MAX_BLOCK_BYTES:
                    # refused from its header alone: skipping the declared bytes would let
                    # one bad header ('#9999999999') swallow the next ~1 GB of the stream
                    self._restart(i + size)
                    self.discarding = True
                    return FramingError(INPUT_BUFFER_OVERRUN,
                                        f"binary block of {length} bytes over the "
                                        f"{MAX_BLOCK_BYTES}-byte limit; it was refused and "
                                        f"the message dropped up to the next newline")
                else:
                    stop = i + size + length
                    if stop > len(buf):
                        if end:                 # cut short by END: parse_block reports it
                            self.block_end = len(buf)
                            break
                        self.scan = i
                        return None             # wait for the whole block
                    self.text_bytes += size
                    i = self.block_end = stop
                    if i == len(buf) or buf[i] not in _CONTINUES_AFTER_BLOCK:
                        return self._cut(i, i)  # the block ends the message, as EOI would
                    continue
            i += 1
            self.text_bytes += 1
            if self.text_bytes > MAX_LINE_BYTES:
                self._restart(i)                            # drop what was scanned ...
                self.discarding = True                      # ... and the rest of the line
                return FramingError(INPUT_BUFFER_OVERRUN,
                                    f"message over {MAX_LINE_BYTES} bytes without a newline; "
                                    f"it was dropped up to the next newline")
        self.scan = i
        if end and buf:
            return self._cut(len(buf), len(buf))
        return None


# ---------------------------------------------------------------- replies
def terminate_reply(reply: str) -> bytes:
    """A reply as the bytes of one response message, terminator included."""
    header = block_header(reply, 0)
    if header is not None and None not in header:
        return reply.encode("latin-1", "replace") + TERMINATOR
    if not (reply.isascii() and reply.isprintable()):
        reply = "".join(ch if 0x20 <= ord(ch) <= 0x7E else ascii(ch)[1:-1] for ch in reply)
    return reply.encode("ascii") + TERMINATOR
