"""An SMTP server for the integration tests: it accepts every message sent to it on
127.0.0.1:PORT and writes each, as received, to its own file in DIR (000001.eml, ...), with the
envelope's recipients in a first `X-Envelope-To:` line. It prints `ready` once it listens and
stops when its standard input closes.

    python smtp_sink.py PORT DIR

Needs aiosmtpd (scripts/smtp-sink.sh installs it).
"""

import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            name = os.path.join(self.directory, f"{self.count:06d}.eml")
        recipients = ", ".join(envelope.rcpt_tos).encode()
        content = envelope.original_content or envelope.content
        partial = name + ".part"
        with open(partial, "wb") as f:
            f.write(b"X-Envelope-To: " + recipients + b"\r\n" + content)
        # Whole files only: the test reads what it finds.
        os.replace(partial, name)
        return "250 Message accepted"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
