"""The worker's ends of a python child's pipes: its messages, and its stdout and stderr.

``Inbox`` cuts what the child sends on its private message pipe into messages.
``ChildDied`` says how a child ended.
``ChildOutput`` reads what reaches the child's own stdout and stderr: a job's
``print`` goes to its run's ``output`` (the child swaps ``sys.stdout``), but the output
of a command the job starts, a C library's warnings or the child's own traceback if it
dies reach the file descriptors themselves. Not the worker's stderr: there a job could
write lines that read like the worker's own log. Each child gets a pipe of its own
instead, and each line read from it becomes a ``python_child_output`` event, its text
a field the log renderer quotes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from collections.abc import Callable
from typing import Any

import structlog

from pgsched.executors.base import OUTPUT_LIMIT_CHARS
from pgsched.executors.child_channel import (
    HEADER,
    MESSAGE_MAX_BYTES,
    PLAIN_SUCCESS,
    read_message,
)

# One event per line, cut to this length.
LINE_LIMIT_CHARS = 2_000

log = structlog.get_logger("pgsched.executors.python")


class ChildDied(Exception):
    """The child process exited while the parent waited for its answer."""

    def __init__(self, returncode: int) -> None:
        how = f"exit code {returncode}"
        if returncode < 0:
            how += f", killed by {signal.Signals(-returncode).name}"
        super().__init__(how)


class Inbox(asyncio.Protocol):
    """Cuts the bytes a child sends into messages and hands each to ``handler`` at once,
    in the order sent: many results read at one wake-up cost one wake-up."""

    _unread = 0  # how many ``leave_unread`` are not yet ended (``read_again``)

    def __init__(self) -> None:
        self.handler: Callable[[Any], None] = _unexpected
        # If set, a plain success (``PLAIN_SUCCESS``) goes here as ``(ticket, started,
        # ended, gap)``, in order with the others, without a message built for it.
        self.on_success: Callable[[int, float, float, float | None], None] | None = None
        self._buffer = bytearray()
        self._transport: asyncio.ReadTransport | None = None
        # A frame longer than MESSAGE_MAX_BYTES came: nothing more is read or kept.
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        buffer = self._buffer
        buffer += data
        size, start, on_success = len(buffer), 0, self.on_success
        while size - start >= HEADER.size:
            length = HEADER.unpack_from(buffer, start)[0]
            if length > MESSAGE_MAX_BYTES:
                self.refuse()  # never buffered whole: a job could announce gigabytes
                self.handler({"type": "oversized", "bytes": length})
                return
            end = start + HEADER.size + length
            if size < end:
                break
            body = start + HEADER.size
            if on_success is not None and length == PLAIN_SUCCESS.size and buffer[body] == 0:
                start = end
                _, ticket, started, ended, gap = PLAIN_SUCCESS.unpack_from(buffer, body)
                on_success(ticket, started, ended, None if gap != gap else gap)  # NaN: none
                if self._refused:  # the result was refused: the rest is not read
                    return
                continue
            try:
                message = read_message(buffer[body:end])
            except (ValueError, RecursionError, struct.error):  # UnicodeDecodeError is a ValueError
                message = None
            if type(message) is not dict:
                # Only a job's code writing to the pipe sends this: it must not break
                # the worker's event loop, the child is treated as broken.
                message = {"type": "garbled"}
            start = end
            self.handler(message)
            if self._refused:
                return
        del buffer[:start]

    def refuse(self) -> None:
        """The child is taken for broken (a job's code wrote to its pipe): what it sent
        and sends from now on is dropped unread."""
        self._refused = True
        self._buffer.clear()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def drain_and_close(self) -> None:
        """Once the child has exited: hand on every message still in the pipe, then close.

        What a child wrote before it died says which of its attempts ended; the event
        loop may not have read it yet when the exit is seen.
        """
        transport, self._transport = self._transport, None
        if transport is None:
            return
        pipe = transport.get_extra_info("pipe")
        while pipe is not None and not transport.is_closing():
            try:
                chunk = os.read(pipe.fileno(), 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            self.data_received(chunk)
        transport.close()

    def leave_unread(self) -> None:
        """Read nothing more until as many ``read_again`` come: what the child sends
        waits in the pipe (a child that fills it waits too)."""
        self._unread += 1
        if self._unread == 1 and self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def read_again(self) -> None:
        """End one ``leave_unread``; the last reads what waits, in one go."""
        self._unread -= 1
        if self._unread == 0 and self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()


def _unexpected(message: Any) -> None:
    log.warning("python_child_message_unexpected", message_type=str(message.get("type")))


class ChildOutput(asyncio.Protocol):
    """Reads one child's stdout and stderr pipe and logs it line by line.

    Each attempt may log up to ``OUTPUT_LIMIT_CHARS`` characters, as much as a run
    keeps of its output; beyond it lines are counted and dropped, so a chatty job
    cannot flood the worker's log.
    """

    def __init__(self) -> None:
        self.pid: int | None = None
        self._run_id: int | None = None
        self._partial = bytearray()
        self._room = OUTPUT_LIMIT_CHARS
        self._dropped_lines = 0

    def attempt_started(self, run_id: int) -> None:
        """Lines from now on belong to run ``run_id``, with a fresh allowance."""
        self._report_dropped()
        self._run_id = run_id
        self._room = OUTPUT_LIMIT_CHARS

    def data_received(self, data: bytes) -> None:
        self._partial += data
        *lines, rest = bytes(self._partial).split(b"\n")
        self._partial = bytearray(rest)
        if len(self._partial) > LINE_LIMIT_CHARS:
            lines.append(rest)
            self._partial.clear()
        for line in lines:
            self._log(line)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._partial:
            self._log(bytes(self._partial))
            self._partial.clear()
        self._report_dropped()

    def _log(self, line: bytes) -> None:
        if self._room <= 0:
            self._dropped_lines += 1
            return
        text = line.decode("utf-8", errors="replace")[:LINE_LIMIT_CHARS]
        self._room -= len(text)
        log.info("python_child_output", pid=self.pid, run_id=self._run_id, output=text)

    def _report_dropped(self) -> None:
        if self._dropped_lines:
            log.warning(
                "python_child_output_dropped",
                pid=self.pid,
                run_id=self._run_id,
                lines=self._dropped_lines,
                reason=f"more than {OUTPUT_LIMIT_CHARS} characters in one attempt",
            )
            self._dropped_lines = 0
