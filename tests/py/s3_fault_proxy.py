#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a real S3 server.

    s3_fault_proxy.py --upstream http://127.0.0.1:39000 --control FILE [--bind ADDR]

Prints the port it listens on (loopback, or --bind's address) as its first line, then forwards
every request to the upstream unchanged (the Host header too, so SigV4
signatures made for the proxy's address still verify) and the answer back,
except the requests the control file picks, which get the fault it names.

The control file is JSON, read again for every request:

    {"fault": "none" | "slowdown" | "error500" | "reset" | "truncate" | "delay",
     "every": 2,              # one matching request in `every` (1: all)
     "methods": ["PUT"],      # which methods match (absent: all)
     "paths": ["/renditions/"]}  # request targets containing one of these match (absent: all)

- slowdown: 503 with S3's SlowDown error, not forwarded;
- error500: 500 with S3's InternalError, not forwarded;
- reset: the connection is reset (RST) before any answer, not forwarded;
- truncate: forwarded, then the answer's headers and half its body, and the
  connection closed;
- delay: forwarded after 1.5 s.

Each fault injected is counted in FILE.stats (JSON: fault -> count).
Standard library only; the test that starts it stops it.
"""

import argparse
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

ERRORS = {
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "error500": (500, "Internal Server Error", "InternalError", "We encountered an internal error. Please try again."),
}


def read_line(f):
    line = f.readline(65537)
    if not line:
        raise EOFError
    return line


def read_head(f):
    """The start line and header lines, raw, and the headers by lower-cased name."""
    lines = [read_line(f)]
    while lines[-1] not in (b"\r\n", b"\n"):
        lines.append(read_line(f))
    headers = {}
    for line in lines[1:-1]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return b"".join(lines), headers


def read_body(f, headers, no_body=False):
    """The body, raw as framed (chunked bodies keep their framing)."""
    if no_body:
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = bytearray()
        while True:
            size_line = read_line(f)
            out += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    line = read_line(f)
                    out += line
                    if line in (b"\r\n", b"\n"):
                        return bytes(out)
            out += f.read(size + 2)
    length = int(headers.get("content-length", "0") or 0)
    return f.read(length) if length else b""


class Faults:
    def __init__(self, control):
        self.control = control
        self.lock = threading.Lock()
        self.seen = 0
        self.stats = {}

    def pick(self, method, target):
        """The fault for this request, or None."""
        try:
            with open(self.control) as f:
                spec = json.load(f)
        except (OSError, ValueError):
            return None
        fault = spec.get("fault", "none")
        if fault == "none" or (spec.get("methods") and method not in spec["methods"]):
            return None
        if spec.get("paths") and not any(p in target for p in spec["paths"]):
            return None
        with self.lock:
            self.seen += 1
            if self.seen % max(1, int(spec.get("every", 1))) != 0:
                return None
            self.stats[fault] = self.stats.get(fault, 0) + 1
            with open(self.control + ".stats", "w") as f:
                json.dump(self.stats, f)
        return fault


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            while self.one():
                pass
        except (EOFError, ConnectionError, OSError):
            pass

    def one(self):
        head, headers = read_head(self.rfile)
        method, target = (head.split(b" ", 2) + [b"", b""])[:2]
        method, target = method.decode("latin-1"), urllib.parse.unquote(target.decode("latin-1"))
        body = read_body(self.rfile, headers)
        fault = self.server.faults.pick(method, target)
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return False
        if fault in ERRORS:
            status, reason, code, message = ERRORS[fault]
            xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()
            self.wfile.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {len(xml)}\r\n\r\n".encode() + xml
            )
            self.wfile.flush()
            return True
        if fault == "delay":
            time.sleep(1.5)
        up = socket.create_connection(self.server.upstream, timeout=120)
        try:
            up.sendall(head + body)
            uf = up.makefile("rb")
            rhead, rheaders = read_head(uf)
            status = int(rhead.split(b" ", 2)[1])
            rbody = read_body(uf, rheaders, no_body=method == "HEAD" or status in (204, 304) or 100 <= status < 200)
        finally:
            up.close()
        if fault == "truncate" and len(rbody) > 1:
            self.wfile.write(rhead + rbody[: len(rbody) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return False
        self.wfile.write(rhead + rbody)
        self.wfile.flush()
        return headers.get("connection", "").lower() != "close"


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--bind", default="127.0.0.1", help="address to listen on (default loopback)")
    args = ap.parse_args()
    url = urllib.parse.urlparse(args.upstream)
    server = Server((args.bind, 0), Handler)
    server.upstream = (url.hostname, url.port or 80)
    server.faults = Faults(args.control)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
