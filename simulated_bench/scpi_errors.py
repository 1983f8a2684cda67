"""SCPI error codes and the exception that queues one.

Its own module so that the message framer (:mod:`simulated_bench.framing`) and the parser
(:mod:`simulated_bench.scpi`, which re-exports every name here) raise the same errors
without importing each other.
"""

from __future__ import annotations

# Standard SCPI error codes (SCPI-99, vol. 2, ch. 21) that the simulators produce.
NO_ERROR = (0, "No error")
COMMAND_ERROR = (-100, "Command error")
INVALID_CHARACTER = (-101, "Invalid character")
SYNTAX_ERROR = (-102, "Syntax error")
DATA_TYPE_ERROR = (-104, "Data type error")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAMETER = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
HEADER_SUFFIX_OUT_OF_RANGE = (-114, "Header suffix out of range")
INVALID_BLOCK_DATA = (-161, "Invalid block data")
EXECUTION_ERROR = (-200, "Execution error")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER = (-224, "Illegal parameter value")
QUEUE_OVERFLOW = (-350, "Queue overflow")
INPUT_BUFFER_OVERRUN = (-363, "Input buffer overrun")
QUERY_INTERRUPTED = (-410, "Query INTERRUPTED")
QUERY_UNTERMINATED = (-420, "Query UNTERMINATED")


class ScpiError(Exception):
    """Raised by a handler; becomes an entry in the instrument's error queue."""

    def __init__(self, error: tuple[int, str], detail: str = ""):
        super().__init__(f"{error[0]},{error[1]}{'; ' + detail if detail else ''}")
        self.code, self.message = error
        self.detail = detail
