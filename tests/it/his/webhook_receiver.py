"""A hospital HIS's webhook receiver for the recognition tests: refuses
the first request (503) so the sender has to try again, then checks every
request's X-Yunying-Signature (hmac-sha256 over "TIMESTAMP.BODY" with the
shared secret, computed here with Python's own hmac) and answers 200.
Every request is appended to OUT as a JSON line: delivery, whether it was
accepted, whether the signature held, and the body.

usage: webhook_receiver.py PORT_FILE OUT SECRET_FILE  (stops after 120 s)
"""
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

port_file, out, secret_file = sys.argv[1:4]
secret = open(secret_file, "rb").read().strip()
seen = {"requests": 0}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(length, 1 << 20))
        ts = self.headers.get("X-Yunying-Timestamp", "")
        given = dict(p.strip().split("=", 1) for p in self.headers.get("X-Yunying-Signature", "").split(",") if "=" in p)
        expected = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(given.get("hmac-sha256", ""), expected)
        seen["requests"] += 1
        accepted = seen["requests"] > 1
        with open(out, "a") as f:
            f.write(json.dumps({"delivery": self.headers.get("X-Yunying-Delivery"), "accepted": accepted,
                                "valid": valid, "body": json.loads(body)}) + "\n")
        self.send_response(200 if accepted else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(port_file + ".tmp", port_file)
threading.Timer(120, server.shutdown).start()
server.serve_forever()
