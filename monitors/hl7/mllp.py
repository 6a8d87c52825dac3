"""MLLP framing (HL7 v2 over TCP), sans I/O: ``<VT> message <FS><CR>``.

``MllpFramer.receive_data`` takes bytes as they arrive and returns the whole frames found; bytes
outside a frame and frames over the size limit are discarded and counted, never raised on.
A sender that ends a frame with ``<FS>`` but no ``<CR>`` is accepted (some gateways do).
"""

from __future__ import annotations

from dataclasses import dataclass, field

START = b"\x0b"
END = b"\x1c"
CR = b"\x0d"
MAX_FRAME = 1 << 20  # a PCD-01 message is a few kilobytes; a megabyte is a broken sender


def frame(message: bytes) -> bytes:
    """``message`` framed for sending."""
    return START + message + END + CR


@dataclass
class MllpFramer:
    max_frame: int = MAX_FRAME
    buffer: bytearray = field(default_factory=bytearray)
    garbage_bytes: int = 0  # bytes outside any frame, and frames over the limit
    oversized: int = 0  # frames discarded for their size
    frames: int = 0
    _cr_due: bool = False  # a frame ended with <FS> at the end of the data: a <CR> may follow

    def receive_data(self, data: bytes) -> list[bytes]:
        self.buffer += data
        if self._cr_due and self.buffer:
            self._cr_due = False
            if self.buffer[:1] == CR:
                del self.buffer[:1]
        out: list[bytes] = []
        while True:
            start = self.buffer.find(START)
            if start < 0:
                self._discard(len(self.buffer))
                return out
            self._discard(start)
            end = self.buffer.find(END, 1)
            if end < 0:
                if len(self.buffer) > self.max_frame + 2:
                    self.oversized += 1
                    self._discard(len(self.buffer))
                return out
            body = bytes(self.buffer[1:end])
            if end + 1 >= len(self.buffer):
                self._cr_due = True  # the <CR> is in the next data, or never comes
            tail = end + 2 if self.buffer[end + 1:end + 2] == CR else end + 1
            del self.buffer[:tail]
            if START in body:
                # A frame that was never ended, followed by a new one: the broken part is
                # discarded and the new frame read.
                cut = body.rfind(START)
                self.garbage_bytes += cut + 1
                body = body[cut + 1:]
            if len(body) > self.max_frame:
                self.oversized += 1
                self.garbage_bytes += len(body)
                continue
            self.frames += 1
            out.append(body)

    def _discard(self, n: int) -> None:
        if n > 0:
            self.garbage_bytes += n
            del self.buffer[:n]
