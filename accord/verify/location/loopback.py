"""A real UDP echo-signer and landmark client, restricted to the loopback interface.

This is the measurement path exercised end to end on one machine: a responder thread signs
challenges arriving on 127.0.0.1, and a landmark times each exchange with a monotonic
nanosecond clock. Both refuse any address outside 127.0.0.0/8 and ::1, and both loops are
bounded in count and time and stop by themselves.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType

from accord.errors import AccordError, IntegrityError
from accord.verify.location.protocol import (
    LandmarkStation,
    MeasurementRecord,
    TargetResponder,
    decode_response,
)

MAX_DATAGRAM = 512


def require_loopback(host: str) -> str:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise AccordError("host", f"{host!r} is not an IP address", "use 127.0.0.1") from None
    if not addr.is_loopback:
        raise AccordError("host", f"{host} is not a loopback address", "use 127.0.0.1")
    return host


class EchoSigner:
    """UDP responder on loopback; use as a context manager, it stops on exit or on limits."""

    def __init__(
        self,
        responder: TargetResponder,
        host: str = "127.0.0.1",
        max_requests: int = 10_000,
        max_seconds: float = 30.0,
    ) -> None:
        self._responder = responder
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((require_loopback(host), 0))
        self._sock.settimeout(0.05)
        self.address: tuple[str, int] = self._sock.getsockname()
        self._max_requests = max_requests
        self._deadline = time.monotonic() + max_seconds
        self._stop = threading.Event()
        self.served = 0
        self.rejected = 0
        self._thread = threading.Thread(target=self._serve, name="accord-echo-signer", daemon=True)

    def _serve(self) -> None:
        while (
            not self._stop.is_set()
            and self.served < self._max_requests
            and time.monotonic() < self._deadline
        ):
            try:
                frame, peer = self._sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                break
            try:
                reply = self._responder.respond(frame)
            except IntegrityError:
                self.rejected += 1
                continue
            self._sock.sendto(reply, peer)
            self.served += 1

    def __enter__(self) -> EchoSigner:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sock.close()


def _await_answer(sock: socket.socket, nonce: bytes, deadline_ns: int) -> bytes | None:
    """The reply carrying this nonce; stale replies to earlier challenges are dropped."""
    while True:
        left = (deadline_ns - time.perf_counter_ns()) / 1e9
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            reply, _ = sock.recvfrom(MAX_DATAGRAM)
        except TimeoutError:
            return None
        try:
            got, _sig = decode_response(reply)
        except IntegrityError:
            continue
        if got == nonce:
            return reply


def measure(
    station: LandmarkStation,
    address: tuple[str, int],
    target_key: bytes,
    count: int = 20,
    timeout_s: float = 0.5,
) -> list[MeasurementRecord]:
    """Send ``count`` challenges to a loopback responder; return the signed records.

    Lost or late answers are skipped (they can only have made the target look farther).
    """
    host, port = address
    require_loopback(host)
    if not 1 <= count <= 10_000:
        raise AccordError("count", f"{count} is out of range", "use 1..10000")
    records: list[MeasurementRecord] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        for _ in range(count):
            challenge = station.new_challenge()
            frame = challenge.encode()
            sent = time.perf_counter_ns()
            sock.sendto(frame, (host, port))
            reply = _await_answer(sock, challenge.nonce, sent + int(timeout_s * 1e9))
            if reply is None:
                continue
            received = time.perf_counter_ns()
            records.append(station.complete(challenge, reply, target_key, sent, received))
    return records
