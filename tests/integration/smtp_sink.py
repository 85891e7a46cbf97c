"""A local SMTP server for the tests (Debian's python3-aiosmtpd): it accepts every
mail and keeps it, so a test can read the code parleyd sent. Runs in a thread
of the test process; start() on a free port (or a given one), stop() after."""
import email
import email.policy
import re
import socket
import threading
import time

from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.mails.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                    "subject": str(msg["subject"]),
                                    "body": msg.get_content(), "raw": envelope.content})
        return "250 OK"


class SmtpSink:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.mails = []
        self.lock = threading.Lock()
        self.controller = None

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def to(self, address):
        with self.lock:
            return [m for m in self.mails if address in m["to"]]

    def wait_for(self, address, count=1, timeout=10):
        """The mails to address once there are at least count of them."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.to(address)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"no mail #{count} to {address} within {timeout} s: {self.to(address)}")


def reset_mail(sink, address, count=1):
    """The count-th password reset mail to address (verification mails aside)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        got = [m for m in sink.to(address) if m["subject"] == "Reset your Parley password"]
        if len(got) >= count:
            return got[count - 1]
        time.sleep(0.02)
    raise AssertionError(f"no reset mail #{count} to {address}: {sink.to(address)}")


def verify_code(mail):
    return re.search(r"^\s+(\d{6})\s*$", mail["body"], re.M).group(1)


def reset_code(mail):
    return re.search(r"^\s+([0-9A-Z]{4}(?:-[0-9A-Z]{4}){4})\s*$", mail["body"], re.M).group(1)
