"""The IEEE 488.2 framer both transports share (simulated_bench.framing): block round trips,
messages with blocks holding ';' and newlines, malformed blocks as SCPI errors, and a byte
stream framed the same whether it arrives as one VISA write or in TCP pieces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from simulated_bench.bench import SimulatedBench
from simulated_bench.framing import (
    MAX_LINE_BYTES,
    FramingError,
    MessageFramer,
    block_span,
    encode_block,
    parse_block,
    split_units,
    terminate_reply,
)
from simulated_bench.scpi import ScpiError

PULSE = "GPIB0::10::INSTR"


def frame(data: bytes) -> list:
    """One VISA write (the bytes end with END)."""
    return MessageFramer().messages(data, end=True)


def errors(items) -> list[int]:
    return [item.error[0] for item in items if isinstance(item, FramingError)]


# ---------------------------------------------------------------- blocks
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_survive_a_block_round_trip(data):
    block = encode_block(data)
    text = block.decode("latin-1")
    assert block_span(text, 0) == len(block)
    assert parse_block(text) == data
    assert frame(b":DATA1:DAC VOLATILE," + block + b"\n") == [
        ":DATA1:DAC VOLATILE," + text]


def test_encode_block_writes_the_ieee_header():
    assert encode_block(b"") == b"#10"
    assert encode_block(b"abc") == b"#13abc"
    assert encode_block(bytes(12345)) == b"#512345" + bytes(12345)


@pytest.mark.parametrize("argument, code", [
    ("#", -104), ("#x12", -104), ("12", -104), ("", -104),
    ("#2a1abc", -161),            # length digits that are not digits
    ("#5123", -161),              # header cut short
    ("#213abc", -161),            # declares 13 bytes, 3 arrived
    ("#3\u00b2\u00b2\u00b2", -161),   # superscript digits are not length digits
    ("#13\u20acab", -161),        # a character that is no byte
])
def test_malformed_blocks_raise_one_scpi_error(argument, code):
    with pytest.raises(ScpiError) as info:
        parse_block(argument)
    assert info.value.code == code


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=30))
def test_any_block_argument_decodes_or_gives_an_scpi_error(tail):
    for argument in ("#" + tail, "#1" + tail, "#3" + tail):
        try:
            data = parse_block(argument)
        except ScpiError as exc:
            assert exc.code in (-104, -161)
        else:                                     # the data is the declared tail
            assert argument.endswith(data.decode("latin-1"))
            if argument[1] != "0":
                assert len(data) == int(argument[2:2 + int(argument[1])])


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=40))
def test_a_malformed_block_reaches_the_instrument_as_an_error_not_a_crash(junk):
    generator = _generator()
    generator.channels[1].volatile = before = None
    for item in frame(b":DATA1:DAC VOLATILE,#3" + junk + b"\n"):
        if isinstance(item, FramingError):
            generator.push_error(item.error, item.detail)
        else:
            generator.handle(item)
    error = generator.handle("SYST:ERR?")                 # an error, or a valid upload
    assert error.startswith(("-104,", "-161,", "-222,", "-224,", "-363,", "-101,")) or \
        (error.startswith("0,") and generator.channels[1].volatile is not before)
    generator.handle("*CLS")


_GENERATOR = []


def _generator():
    if not _GENERATOR:
        _GENERATOR.append(SimulatedBench.from_config(None).instruments[PULSE])
    return _GENERATOR[0]


# ---------------------------------------------------------------- messages and units
_text = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                       blacklist_characters="#\"';"), min_size=1, max_size=12)
_unit = st.tuples(_text, st.one_of(st.none(), st.binary(max_size=60)))


def _build(units) -> tuple[bytes, list[str]]:
    """A compound message of ``HEADER[ #block]`` units, and the units the parser must see."""
    pieces = []
    for header, block in units:
        pieces.append(header.encode() + (b" " + encode_block(block) if block is not None else b""))
    return b";".join(pieces), [p.decode("latin-1") for p in pieces]


@settings(max_examples=300, deadline=None)
@given(st.lists(_unit, min_size=1, max_size=6))
def test_blocks_holding_separators_and_newlines_split_correctly(units):
    message, expected_units = _build(units)
    framed = frame(message + b"\n")
    assert framed == [message.decode("latin-1")]
    assert split_units(framed[0]) == expected_units


# a block last in its message: one that TCP delivers just before a ';' ends its message,
# since a socket has no EOI to tell a finished write_binary_values from a pause
_message = st.builds(lambda texts, block: [(t, None) for t in texts[:-1]] + [(texts[-1], block)],
                     st.lists(_text, min_size=1, max_size=3),
                     st.one_of(st.none(), st.binary(max_size=60)))


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(_message, min_size=1, max_size=5),
       cuts=st.lists(st.integers(1, 97), max_size=30))
def test_a_stream_in_pieces_frames_as_one_write(messages, cuts):
    stream = b"".join(_build(units)[0] + b"\n" for units in messages)
    framer, got, position = MessageFramer(), [], 0
    for cut in cuts:
        got += framer.messages(stream[position:position + cut])
        position += cut
    got += framer.messages(stream[position:])
    assert got == frame(stream) == [_build(u)[0].decode("latin-1") for u in messages]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_any_bytes_frame_without_raising(first, second):
    for end in (False, True):
        framer = MessageFramer()
        for item in framer.messages(first, end) + framer.messages(second, end):
            assert isinstance(item, (str, FramingError))
            if isinstance(item, str):
                assert item.strip()


def test_a_block_ends_its_message_as_eoi_would():
    block = encode_block(b"\n;ab")
    assert frame(b"DATA " + block + b"*IDN?\n") == ["DATA " + block.decode("latin-1"), "*IDN?"]
    stream = MessageFramer()
    assert stream.messages(b"DATA " + block) == ["DATA " + block.decode("latin-1")]
    assert stream.messages(b"*IDN?\n") == ["*IDN?"]


def test_terminators_quotes_and_carriage_returns():
    assert frame(b"*RST\r\n*IDN?\r\n\n") == ["*RST", "*IDN?"]
    assert frame(b'TEXT "a;#13b;c"\n') == ['TEXT "a;#13b;c"']      # '#' in quotes is text
    assert split_units('TEXT "a;#13b;c";*IDN?') == ['TEXT "a;#13b;c"', "*IDN?"]
    assert frame(b"DATA #13a\r\r\n") == ["DATA #13a\r\r"]          # CRs inside the block stay


def test_indefinite_blocks_run_to_the_end_of_the_message():
    assert frame(b"DATA #0a\nb;c\n") == ["DATA #0a\nb;c"]           # to END, minus NL^END
    assert MessageFramer().messages(b"DATA #0a\nb\n") == ["DATA #0a", "b"]   # a socket: NL
    assert parse_block("#0a\nb;c") == b"a\nb;c"


def test_a_block_cut_short_by_the_end_of_a_write_is_one_invalid_block():
    generator = SimulatedBench.from_config(None).instruments[PULSE]
    [message] = frame(b":DATA1:DAC VOLATILE,#3100\x00\x01\n*IDN?\n")
    generator.handle(message)
    assert generator.handle("SYST:ERR?").startswith("-161,")


def test_garbage_and_over_long_messages_give_one_error_each():
    items = frame(b"\xff\xfe junk\n*IDN?\nROUT:CLOS\x00?\n" + b"X" * (MAX_LINE_BYTES + 10)
                  + b"\n*RST\n")
    assert errors(items) == [-101, -101, -363]
    assert [i for i in items if isinstance(i, str)] == ["*IDN?", "*RST"]
    assert frame(b"DATA #14\xff\x00\x01\x02\n") == ["DATA #14\xff\x00\x01\x02"]   # block: any byte
    assert errors(frame(b"DATA #9" + b"9" * 9 + b"\n")) == [-363]  # a block over the limit


# ---------------------------------------------------------------- replies
def test_replies_are_one_line_and_blocks_go_byte_for_byte():
    assert terminate_reply("+1.0E+00") == b"+1.0E+00\n"
    assert terminate_reply('-113,"Undefined header; A\tB\nC"') == \
        b'-113,"Undefined header; A\\tB\\nC"\n'
    block = encode_block(b"\n\x00\xff;")
    assert terminate_reply(block.decode("latin-1")) == block + b"\n"
