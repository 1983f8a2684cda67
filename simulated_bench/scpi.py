"""SCPI message handling shared by every simulated instrument.

What a real instrument's parser does, and what the simulators must do so that unmodified
drivers cannot tell them apart:
- long/short mnemonics (``SOURce`` matches ``SOUR`` and ``SOURCE``), case-insensitive,
  optional nodes (``[:LEVel]``) and numeric suffixes (``OUTPut#`` matches ``OUTP2``);
- compound messages split on ``;``, with headers lacking a leading ``:`` resolved relative
  to the previous header's path;
- an error queue answered by ``SYSTem:ERRor?`` with the standard codes;
- the IEEE 488.2 common commands ``*IDN? *RST *CLS *OPC *OPC? *WAI *TRG *ESR? *STB?``.

An instrument declares its commands with :meth:`ScpiInstrument.add` (handlers) or
:meth:`ScpiInstrument.add_setting` (a stored, validated value).
"""

from __future__ import annotations

import inspect
import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from simulated_bench.framing import block_ranges, split_outside, split_units
# the error codes and ScpiError live in scpi_errors (the framer raises them too); the
# instruments import them from here
from simulated_bench.scpi_errors import (  # noqa: F401
    COMMAND_ERROR,
    DATA_OUT_OF_RANGE,
    DATA_TYPE_ERROR,
    EXECUTION_ERROR,
    HEADER_SUFFIX_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    INPUT_BUFFER_OVERRUN,
    INVALID_BLOCK_DATA,
    INVALID_CHARACTER,
    MISSING_PARAMETER,
    NO_ERROR,
    PARAMETER_NOT_ALLOWED,
    QUERY_INTERRUPTED,
    QUERY_UNTERMINATED,
    QUEUE_OVERFLOW,
    SETTINGS_CONFLICT,
    SYNTAX_ERROR,
    UNDEFINED_HEADER,
    ScpiError,
)

ERROR_QUEUE_DEPTH = 10


def _node_regex(node: str) -> str:
    """``SOURce#`` -> regex matching SOUR, SOURCE, SOUR2, source1 ..."""
    suffix = node.endswith("#")
    name = node.rstrip("#")
    short = "".join(c for c in name if c.isupper() or c.isdigit() or c in "*?")
    rest = name[len(short):].upper()
    body = re.escape(short) + (f"(?:{re.escape(rest)})?" if rest else "")
    return body + (r"(\d*)" if suffix else "")


def compile_pattern(pattern: str) -> re.Pattern:
    """Turn ``[:SOURce]:CURRent[:LEVel]`` into an anchored, case-insensitive regex."""
    out = []
    pattern = pattern if pattern.startswith(("[", ":", "*")) else ":" + pattern
    for optional, node in re.findall(r"(\[?):?([A-Za-z*][A-Za-z0-9#?]*)\]?", pattern):
        piece = ":" + _node_regex(node)
        out.append(f"(?:{piece})?" if optional else piece)
    regex = "".join(out)
    if pattern.startswith("*"):
        regex = regex.lstrip(":")
    return re.compile(f"^{regex}$", re.IGNORECASE)


def mnemonic_forms(mnemonic: str) -> tuple[str, str]:
    """``SOURce`` -> (``SOUR``, ``SOURCE``): the only two spellings SCPI accepts."""
    short = "".join(c for c in mnemonic if not c.islower())
    return short.upper(), mnemonic.upper()


def match_mnemonic(text: str, mnemonics) -> str | None:
    """The mnemonic of ``mnemonics`` that ``text`` spells (short or long form, any case),
    else None. Exact forms only: ``SOURUNIT`` never matches ``SOURce``, ``S`` never
    ``SOURce``. A mnemonic written all in capitals has one form."""
    word = text.strip().strip("'\"").upper()
    for mnemonic in mnemonics:
        if word in mnemonic_forms(str(mnemonic)):
            return mnemonic
    return None


def _arity(handler) -> tuple[int, int | None]:
    """(fewest, most) positional arguments ``handler`` takes; most is None for ``*args``."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):       # builtins without a signature: no check
        return 0, None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 0, None
    required = sum(1 for p in positional if p.default is p.empty)
    return required, len(positional)


@dataclass
class Command:
    regex: re.Pattern
    path: str
    on_set: Callable[..., None] | None
    on_query: Callable[..., Any] | None
    set_arity: tuple[int, int | None] = (0, None)
    query_arity: tuple[int, int | None] = (0, None)


def parse_number(text: str) -> float:
    """SCPI numeric data, including the MIN/MAX/DEF keywords' absence (callers handle them)."""
    try:
        return float(text.strip())
    except ValueError:
        raise ScpiError(DATA_TYPE_ERROR, f"{text.strip()!r} is not a number") from None


def parse_bool(text: str) -> bool:
    value = text.strip().upper()
    if value in ("1", "ON", "TRUE"):
        return True
    if value in ("0", "OFF", "FALSE"):
        return False
    raise ScpiError(ILLEGAL_PARAMETER, f"{text.strip()!r} is not a boolean")


#: the newest entries a command or pulse log keeps: a long in-the-loop run must not grow
#: memory without bound, and tests look at far fewer than this
LOG_CAPACITY = 200_000


def append_bounded(log: list, item) -> None:
    """Append to a log, dropping its older half once it holds ``LOG_CAPACITY`` entries."""
    if len(log) >= LOG_CAPACITY:
        del log[:LOG_CAPACITY // 2]
    log.append(item)


#: binary blocks longer than this are kept abbreviated in ``ScpiInstrument.received``
LOGGED_BLOCK_BYTES = 4096


def abbreviate_blocks(message: str, keep: int = 64) -> str:
    """``message`` with every binary block over ``LOGGED_BLOCK_BYTES`` cut to its header, its
    first ``keep`` data bytes and a ``...<N bytes>`` note (a waveform per batch would
    otherwise fill the command log with megabytes)."""
    if len(message) <= LOGGED_BLOCK_BYTES:
        return message
    pieces, start = [], 0
    for a, b in block_ranges(message):
        if b - a > LOGGED_BLOCK_BYTES:
            pieces.append(message[start:a + keep])
            pieces.append(f"...<{b - a} bytes of block>")
            start = b
    pieces.append(message[start:])
    return "".join(pieces)


def split_arguments(text: str) -> list[str]:
    """Split ``1, "a,b", (@101,102), #14abcd`` on top-level commas, keeping quotes, lists
    and binary blocks intact."""
    args = split_outside(text, ",", parentheses=True)
    if len(args) == 1 and args[0] == "":
        return []
    return args


def format_number(value: float) -> str:
    return f"{value:+.9E}" if isinstance(value, float) else str(value)


class ScpiInstrument:
    """Base of every simulated instrument: parser, error queue, common commands.

    Subclasses set ``IDN`` and register commands in ``__init__``; ``reset()`` restores
    power-on settings (``*RST``).
    """

    IDN = "SPIN-HIL,SIMULATED,0,0.1"
    #: seconds a simple command takes inside the instrument (added to the bus time)
    PROCESSING_S = 50e-6

    def __init__(self, lab, address: str):
        self.lab = lab
        self.address = address
        self.errors: deque[tuple[int, str]] = deque()
        self.commands: list[Command] = []
        self.settings: dict[str, Any] = {}
        self._setting_defaults: dict[str, Any] = {}
        self.esr = 0
        self.busy_until_s = 0.0
        #: every command that reached this instrument, in order (for safety tests)
        self.received: list[str] = []
        self.add("*IDN?", on_query=lambda: self.IDN)
        self.add("*RST", on_set=lambda: self.reset())
        self.add("*CLS", on_set=self._clear_status)
        self.add("*OPC", on_set=lambda: None, on_query=self._operation_complete)
        self.add("*WAI", on_set=self._wait)
        self.add("*TRG", on_set=self.trigger)
        self.add("*ESR", on_query=self._read_esr)
        self.add("*STB", on_query=lambda: 4 if self.errors else 0)
        self.add("*ESE", on_set=lambda *a: None, on_query=lambda: 0)
        self.add("*SRE", on_set=lambda *a: None, on_query=lambda: 0)
        self.add("SYSTem:ERRor[:NEXT]", on_query=self._next_error)
        self.add("SYSTem:ERRor:ALL", on_query=self._all_errors)
        self.add("SYSTem:ERRor:COUNt", on_query=lambda: len(self.errors))
        self.add("STATus:PRESet", on_set=lambda: None)
        self.add("SYSTem:BEEPer[:IMMediate]", on_set=lambda *a: None)

    # ------------------------------------------------------------ declaration
    def add(self, pattern: str, on_set=None, on_query=None) -> None:
        """Register a header. ``on_set(*args)`` / ``on_query(*args)`` get the parsed
        arguments as strings, after any numeric suffixes captured by ``#`` nodes."""
        pattern = pattern.rstrip("?")
        self.commands.append(Command(
            compile_pattern(pattern), pattern, on_set, on_query,
            _arity(on_set) if on_set else (0, None), _arity(on_query) if on_query else (0, None)))

    def add_setting(self, pattern: str, name: str, default, parse=parse_number,
                    limits: tuple[float, float] | None = None, choices=None, fmt=None,
                    on_change: Callable[[Any], None] | None = None) -> None:
        """A stored value with set and query forms and validation (range -> -222)."""
        self._setting_defaults[name] = default
        self.settings[name] = default

        def on_set(*args):
            if not args:
                raise ScpiError(MISSING_PARAMETER, pattern)
            value = parse(args[-1])
            if choices is not None:
                # mnemonic choices (``NEVer``) store their short form; numbers compare equal
                matched = (match_mnemonic(value, choices) if isinstance(value, str)
                           else next((c for c in choices if c == value), None))
                if matched is None:
                    raise ScpiError(ILLEGAL_PARAMETER, f"{args[-1]!r} not in {choices}")
                value = mnemonic_forms(matched)[0] if isinstance(matched, str) else matched
            if limits is not None and not limits[0] <= value <= limits[1]:
                raise ScpiError(DATA_OUT_OF_RANGE, f"{value} outside {limits}")
            self.settings[name] = value
            if on_change is not None:
                on_change(value)

        def on_query(*args):
            value = self.settings[name]
            if fmt is not None:
                return fmt(value)
            if isinstance(value, bool):
                return "1" if value else "0"
            return format_number(value) if isinstance(value, float) else str(value)

        self.add(pattern, on_set=on_set, on_query=on_query)

    # ------------------------------------------------------------ behaviour
    def reset(self) -> None:
        """*RST: power-on settings. Subclasses extend (outputs off, buffers cleared)."""
        self.settings.update(self._setting_defaults)

    def trigger(self) -> None:
        """*TRG / bus trigger. Instruments with a trigger system override this."""

    def push_error(self, error: tuple[int, str], detail: str = "") -> None:
        if len(self.errors) >= ERROR_QUEUE_DEPTH:
            self.errors[-1] = QUEUE_OVERFLOW
            return
        message = f"{error[1]}; {detail}" if detail else error[1]
        self.errors.append((error[0], message))
        self.esr |= 0x20 if error[0] <= -100 and error[0] > -200 else 0x10

    def _next_error(self):
        code, message = self.errors.popleft() if self.errors else NO_ERROR
        return f'{code},"{message}"'

    def _all_errors(self):
        replies = [self._next_error() for _ in range(len(self.errors))] or [self._next_error()]
        return ",".join(replies)

    def _clear_status(self):
        self.errors.clear()
        self.esr = 0

    def _read_esr(self):
        value, self.esr = self.esr | 0x01, 0
        return value

    def _wait(self):
        """*WAI: the bus is held until pending operations end (virtual time passes)."""
        self.lab.clock.advance_to(max(self.lab.clock.now_s, self.busy_until_s))

    def _operation_complete(self):
        self._wait()
        return 1

    # ------------------------------------------------------------ parsing
    def handle(self, message: str) -> str | None:
        """Execute one message (one line, maybe compound). Returns the reply or None."""
        append_bounded(self.received, abbreviate_blocks(message))
        replies: list[str] = []
        previous_path = ""
        for unit in split_units(message):
            try:
                reply, previous_path = self._execute(unit, previous_path)
            except ScpiError as exc:
                self.push_error((exc.code, exc.message), exc.detail)
                continue
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _execute(self, unit: str, previous_path: str):
        header, _, rest = unit.partition(" ")
        header = header.strip()
        is_query = header.endswith("?")
        header = header.rstrip("?")
        if not header or not re.fullmatch(r":?\*?[A-Za-z][A-Za-z0-9:]*", header):
            raise ScpiError(SYNTAX_ERROR, unit)
        candidates = [header]
        if not header.startswith((":", "*")) and previous_path:
            candidates.insert(0, previous_path + ":" + header)
        if header.startswith(":*"):
            candidates = [header[1:]]
        for candidate in candidates:
            for command in self.commands:
                match = command.regex.match(candidate if candidate.startswith("*")
                                            else ":" + candidate.lstrip(":"))
                if not match:
                    continue
                suffixes = [s or "" for s in match.groups()]
                args = split_arguments(rest) if rest.strip() else []
                args = suffixes + args
                path = candidate.lstrip(":").rsplit(":", 1)[0] if ":" in candidate.lstrip(":") else ""
                if is_query:
                    if command.on_query is None:
                        raise ScpiError(UNDEFINED_HEADER, unit)
                    self._check_arity(command.query_arity, len(args), len(suffixes), unit)
                    value = command.on_query(*args)
                    return (None if value is None else self._format(value)), path
                if command.on_set is None:
                    raise ScpiError(UNDEFINED_HEADER, unit)
                self._check_arity(command.set_arity, len(args), len(suffixes), unit)
                command.on_set(*args)
                return None, path
        raise ScpiError(UNDEFINED_HEADER, unit)

    @staticmethod
    def _check_arity(arity: tuple[int, int | None], given: int, suffixes: int, unit: str) -> None:
        """More parameters than the header takes: -108 (``*IDN? 1``), as IEEE 488.2 says."""
        fewest, most = arity
        if most is not None and given > most:
            raise ScpiError(PARAMETER_NOT_ALLOWED, f"{unit!r} takes {max(most - suffixes, 0)} "
                                                   f"parameter(s), {given - suffixes} given")
        if given < fewest:
            raise ScpiError(MISSING_PARAMETER, unit)

    @staticmethod
    def _format(value) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, float):
            return format_number(value)
        if isinstance(value, (list, tuple)):
            return ",".join(ScpiInstrument._format(v) for v in value)
        return str(value)
