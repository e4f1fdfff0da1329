"""The messages between the worker and a python child, and the child's end of them.

Every message is framed by a 4-byte big-endian length (``encode``); most are a JSON
object. Parent to child: ``{"sys_path": [...], "allowed": [...]}`` once, then

- a batch (``batch_frame``: a one byte, then a ``marshal``-ed list of ``Request``
  tuples; the child reads it as ``{"type": "batch", "attempts": [Request, ...]}``):
  attempts to run one after the other, in order (a request: ``ticket``, the parent's
  number for it, and ``target``, ``args``, ``job_name``, ``run_id``, ``scheduled_for``,
  ``attempt``, ``checkpoint``, ``shard``, ``shards``; and ``start_at``, a monotonic
  instant, for an attempt held for its slot: it begins no sooner, and waits for it
  still in the queue, so still withdrawable; 0: at once);
- ``{"type": "withdraw", "id": n, "tickets": [...]}``: take back those not begun;
- ``{"type": "answer", "error": null}``: the answer to the checkpoint being saved.

Child to parent: ``{"type": "ready"}`` once, then ``{"type": "result", "ticket": ...}``
(a plain success packed instead, ``result_frame``) as each attempt ends (the fields
of an ``Outcome``, with ``started`` and ``ended``:
the monotonic instants the job was called and the attempt ended, a clock the parent
shares (Linux's CLOCK_MONOTONIC is system-wide); and ``gap``: seconds from the previous
attempt's call to this one's when the child took it without waiting, its pace),
``{"type": "checkpoint", "ticket": ..., "value": ...}`` while a job saves one, and
``{"type": "withdrawn", "id": n, "tickets": [...], "at": t}``: those of the withdrawal
``n`` that had not begun and never will, answered at monotonic instant ``t`` (an
attempt taken back from the head of the queue lets the next begin from then).

A result is written before the next attempt is taken from the queue, so the parent
knows from the results alone which attempt a child may be running: the first one
sent without a result, and only once its ``start_at`` has come. Everything behind it
has not begun, nor has a head whose instant has not come, and a reader thread answers
a withdrawal at once, even while a job runs.
"""

from __future__ import annotations

import json
import marshal
import os
import queue
import struct
import threading
import time
from collections import deque
from datetime import datetime, tzinfo
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

HEADER = struct.Struct("!I")
# A plain success (begun, no output, no error): a zero byte (JSON starts with "{"),
# ticket, started, ended and gap (NaN: none), packed.
PLAIN_SUCCESS = struct.Struct("!Bqddd")
# The same with its frame's header, packed in one go.
_PLAIN_FRAME = struct.Struct("!IBqddd")
_NO_GAP = float("nan")
# Compact JSON of any value; one encoder, not one per message as json.dumps would build.
compact_json = json.JSONEncoder(separators=(",", ":")).encode
# A checkpoint's value is what a job gives: NaN and the infinities, which JSON lacks
# (the worker refuses a message holding them), fail its save, not its process.
_strict_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
# The longest message a worker reads from a child. A result is under 1 MB (64,000
# characters of output and 16,000 of error, each at most 12 bytes as escaped JSON), a
# checkpoint the database keeps under 3 MiB (1 MiB of JSON as PostgreSQL counts it).
# A job's code runs in the child and can write to its pipe: a longer frame is never
# buffered, the child is taken for broken instead.
MESSAGE_MAX_BYTES = 4 * 1024 * 1024

# A child waits for a held attempt's start_at until this long before it, then spins:
# at most this much CPU per child and instant.
SPIN_SECONDS = 0.0005


# The first byte of a batch's body: JSON starts with "{".
_BATCH = b"\x01"


class Request(NamedTuple):
    """One attempt as its child gets it (a plain tuple on the way: ``marshal`` takes
    no subclass)."""

    ticket: int
    target: str
    args: dict[str, Any]
    job_name: str
    run_id: int
    scheduled_for: str  # its isoformat()
    attempt: int
    checkpoint: Any
    shard: int
    shards: int
    start_at: float  # the monotonic instant it may begin; 0: at once


def batch_frame(requests: list[tuple[Any, ...]]) -> bytes:
    """One message carrying ``requests`` (each a tuple of ``Request``'s fields).

    ``marshal``, not JSON: the child's one ``marshal.loads`` of a batch costs a fifth
    of its ``json.loads``, and building the tuples a third of assembling JSON. Only
    the worker writes this pipe (a job could write the other one, which stays JSON
    and struct: ``marshal.loads`` of hostile bytes is not safe), and the child runs the
    worker's own interpreter, so both ends speak the same marshal version."""
    body = _BATCH + marshal.dumps(requests)
    return HEADER.pack(len(body)) + body


def read_request_message(body: bytes) -> dict[str, Any]:
    """The message a frame from the parent holds: a batch, or JSON."""
    if body[:1] == _BATCH:
        return {"type": "batch", "attempts": list(map(Request._make, marshal.loads(body[1:])))}
    return read_message(body)  # JSON: it starts with "{", never a plain success's zero


# Slots repeat from claim to claim (one slot for most of a claim): their texts are
# kept, up to _KEPT_MAX, rather than made again for every attempt (an instant's
# isoformat alone cost 1-3 us).
_KEPT_MAX = 50_000
_INSTANTS: dict[tuple[datetime, tzinfo | None, int], str] = {}


def iso_text(instant: datetime) -> str:
    """``instant.isoformat()``, kept for the next time it comes."""
    # Keyed with its zone and fold too: equal instants in other zones, and a local
    # time repeated when clocks go back, have other texts.
    key = (instant, instant.tzinfo, instant.fold)
    text = _INSTANTS.get(key)
    if text is None:
        if len(_INSTANTS) >= _KEPT_MAX:
            _INSTANTS.clear()
        text = _INSTANTS[key] = instant.isoformat()
    return text


def encode(message: dict[str, Any]) -> bytes:
    """``message`` as one frame: its length, then its compact JSON."""
    body = compact_json(message).encode()
    return HEADER.pack(len(body)) + body


def checkpoint_frame(ticket: int, value: Any) -> bytes:
    """The message saving ``value`` as ticket ``ticket``'s checkpoint, framed; a
    ``ValueError`` saying why for a value with NaN or an infinity, or one longer than
    ``MESSAGE_MAX_BYTES`` as JSON (the database would refuse it anyway)."""
    message = {"type": "checkpoint", "ticket": ticket, "value": value}
    try:
        body = _strict_json(message).encode()
    except ValueError as exc:
        raise ValueError(f"checkpoint not saved: {exc}") from None
    if len(body) > MESSAGE_MAX_BYTES:
        raise ValueError(
            f"checkpoint not saved: {len(body)} bytes of JSON, more than the "
            f"{MESSAGE_MAX_BYTES} a worker reads (the database keeps at most 1 MiB)"
        )
    return HEADER.pack(len(body)) + body


def result_frame(result: dict[str, Any]) -> bytes:
    """A result message (``ticket``, ``status``, ``output``, ``error``, ``retryable``,
    ``started``, ``ended``, ``gap``) framed, assembled rather than encoded: a child
    sends one per attempt, back to back after an instant. A plain success (begun, no
    output, no error), most results under load, is packed (``PLAIN_SUCCESS``); the
    others are JSON as ``encode`` would frame them. ``read_message`` reads either."""
    output, error = result["output"], result["error"]
    started, gap = result["started"], result["gap"]
    if output is None and error is None and started is not None and result["status"] == "succeeded":
        return _PLAIN_FRAME.pack(
            PLAIN_SUCCESS.size,
            0,
            result["ticket"],
            started,
            result["ended"],
            _NO_GAP if gap is None else gap,
        )
    body = (
        f'{{"type":"result","ticket":{result["ticket"]:d},"status":"{result["status"]}",'
        f'"output":{"null" if output is None else encode_basestring_ascii(output)},'
        f'"error":{"null" if error is None else encode_basestring_ascii(error)},'
        f'"retryable":{"true" if result["retryable"] else "false"},'
        f'"started":{"null" if started is None else repr(started)},'
        f'"ended":{result["ended"]!r},"gap":{"null" if gap is None else repr(gap)}}}'
    ).encode()
    return HEADER.pack(len(body)) + body


def read_message(body: bytes | bytearray) -> dict[str, Any]:
    """The message a frame's ``body`` holds: packed (a plain success), or JSON."""
    if body[:1] == b"\x00" and len(body) == PLAIN_SUCCESS.size:
        _, ticket, started, ended, gap = PLAIN_SUCCESS.unpack(body)
        return {
            "type": "result",
            "ticket": ticket,
            "status": "succeeded",
            "output": None,
            "error": None,
            "retryable": True,
            "started": started,
            "ended": ended,
            "gap": None if gap != gap else gap,  # NaN: none
        }
    # Decoded here: json.loads would first guess the encoding of bytes.
    message: dict[str, Any] = json.loads(body.decode(), parse_constant=_not_json)
    return message


def _not_json(constant: str) -> Any:
    # json.loads reads NaN and the infinities, which JSON lacks and no end sends.
    raise ValueError(f"{constant} is not JSON")


class ChildChannel:
    """The child's end: blocking reads by a reader thread, writes from any thread.

    The reader queues attempts (``next_attempt`` takes them), answers withdrawals and
    passes checkpoint answers on (``checkpoint_answer``).
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._write_lock = threading.Lock()
        # A job may save checkpoints from several threads; one question at a time.
        self.checkpoint_lock = threading.Lock()
        self._answers: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._attempts: deque[Request] = deque()
        # The queue's lock, entered directly where it is taken per attempt (a
        # Condition's own ``with`` goes through a Python-level method).
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._closed = False
        # Whether the attempt next_attempt returned last had to be waited for.
        self.waited = True

    def send(self, message: dict[str, Any]) -> None:
        """Write one message whole, whichever thread sends it."""
        self.send_frame(encode(message))

    def send_frame(self, frame: bytes) -> None:
        """Write one framed message whole, whichever thread sends it."""
        data = memoryview(frame)
        with self._write_lock:
            while data:
                data = data[os.write(self._write_fd, data) :]

    def receive(self) -> Any:
        """The next message, or None once the parent has closed its end (reader only)."""
        header = self._read_exactly(HEADER.size)
        if header is None:
            return None
        body = self._read_exactly(HEADER.unpack(header)[0])
        return None if body is None else read_request_message(body)

    def start_reading(self) -> None:
        """Read the parent's messages on a thread of their own from now on."""
        threading.Thread(target=self._read, name="pgsched-parent-pipe", daemon=True).start()

    def next_attempt(self) -> Request | None:
        """The next attempt to run, once there is one and its ``start_at`` has come;
        None once the parent has gone. Taken from the queue, it can no longer be
        withdrawn: it has begun. ``waited`` says whether it had to wait for either."""
        self.waited = False
        with self._lock:
            while not self._closed:
                if not self._attempts:
                    self.waited = True
                    self._changed.wait()
                    continue
                # Waits in the queue, withdrawable, until the instant: time.monotonic
                # is the parent's clock too, so it never begins before start_at.
                start_at = self._attempts[0].start_at
                early = start_at - time.monotonic()
                if early <= 0:
                    return self._attempts.popleft()
                self.waited = True
                if early > SPIN_SECONDS:
                    self._changed.wait(early - SPIN_SECONDS)
                    continue
                # The last fraction spun, the queue free meanwhile: a timed wait wakes
                # 0.1 to 0.5 ms late, the first attempts of an instant as much.
                self._changed.release()
                try:
                    while time.monotonic() < start_at:
                        pass
                finally:
                    self._changed.acquire()
            return None

    def checkpoint_answer(self) -> Any:
        """The parent's answer to the checkpoint just sent; None if it has gone."""
        answer = self._answers.get()
        if answer is None:
            self._answers.put(None)  # and for every later question
        return answer

    def _read(self) -> None:
        try:
            self._read_messages()
        finally:
            # However reading ended (the parent gone, or a message this child cannot
            # read: a parent of another version), the child stops taking attempts
            # and exits, rather than wait for ones that never come; its parent then
            # gives what it sent to another child.
            with self._changed:
                self._closed = True
                self._changed.notify()
            self._answers.put(None)

    def _read_messages(self) -> None:
        while (message := self.receive()) is not None:
            kind = message.get("type")
            if kind == "batch":
                with self._changed:
                    self._attempts.extend(message["attempts"])
                    self._changed.notify()
            elif kind == "withdraw":
                wanted = set(message["tickets"])
                with self._changed:
                    kept = [a for a in self._attempts if a.ticket not in wanted]
                    taken = [a.ticket for a in self._attempts if a.ticket in wanted]
                    self._attempts = deque(kept)
                    # Sent while holding the queue: no attempt taken can begin first,
                    # and the one now first cannot have begun before "at".
                    answer = {"type": "withdrawn", "id": message["id"], "tickets": taken}
                    answer["at"] = time.monotonic()
                    self.send(answer)
                    self._changed.notify()  # the first may have changed: look again
            else:
                self._answers.put(message)

    def _read_exactly(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = os.read(self._read_fd, size - len(data))
            if not chunk:
                return None
            data += chunk
        return data
