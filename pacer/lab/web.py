"""The lab's HTTP service: answers every GET with the host's name (`n2\\n`).

    python -m pacer.lab.web [--port 8080] [--name NAME]

The name is --name, else $PACER_NODE (the node daemon gives it to agents and
what they start), else the lab host whose address is on eth0. Probes of the
VIP read which host answered from the body.
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import subprocess
import sys


def host_name() -> str:
    if os.environ.get("PACER_NODE"):
        return os.environ["PACER_NODE"]
    # The lab host whose own address is on eth0 here (10.250.0.(10+X) is nX).
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"],
                         capture_output=True, text=True).stdout
    for m in re.finditer(r"inet 10\.250\.0\.(\d+)/", out):
        n = int(m.group(1))
        if 11 <= n <= 49:
            return f"n{n - 10}"
    return os.uname().nodename


class Handler(http.server.BaseHTTPRequestHandler):
    body = b"?\n"
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pacer.lab.web",
                                description="Answer every HTTP GET with this host's name.")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--name", default=None)
    args = p.parse_args(argv)
    Handler.body = f"{args.name or host_name()}\n".encode()
    Server(("0.0.0.0", args.port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
