"""A requesting hospital's HIS for the remote-reading tests: an MLLP
listener from the python `hl7` library (hl7.mllp.start_hl7_server) that
parses every ORU^R01 with the library and answers with the library's own
ACK, and an HTTP webhook receiver. Every message is appended to OUT as a
JSON line: {"kind": "hl7", ...what a HIS reads} or {"kind": "webhook",
"signed": whether X-Yunying-Signature's hmac-sha256 over "TIMESTAMP.BODY"
holds with the shared secret (computed here with Python's hmac), "body":
...}. The PDF of an ORU is written beside OUT as oru-<control id>.pdf.

usage: reading_his.py PORT_FILE OUT SECRET_FILE   (writes "MLLP_PORT
HTTP_PORT" to PORT_FILE; stops after 300 s)
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import hl7
from hl7.mllp import start_hl7_server

port_file, out, secret_file = sys.argv[1:4]
secret = open(secret_file, "rb").read().strip()
lock = threading.Lock()


def append(record):
    with lock, open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


def text(message, value):
    return message.unescape(str(value)).replace("\r\n", "\n").replace("\r", "\n")


def read(message):
    obx = list(message.segments("OBX"))
    record = {
        "kind": "hl7",
        "message_type": str(message.segment("MSH")[9]),
        "control_id": str(message["MSH.F10"]),
        "pid3": str(message["PID.F3.R1.C1"]),
        "pid3_authority": str(message["PID.F3.R1.C4"]),
        "names": [text(message, r) for r in message.segment("PID")[5]],
        "filler": str(message["OBR.F3"]),
        "result_status": str(message["OBR.F25"]),
        "flags": [str(o[8]) for o in obx],
        "texts": {},
        "notes": [text(message, n[3]) for n in message if str(n[0]) == "NTE"],
    }
    for o in obx:
        code = str(o[3][0][0]) if o[3] else ""
        kind = str(o[2])
        if kind in ("FT", "TX", "ST"):
            record["texts"][code] = text(message, o[5])
        elif kind == "ED":
            data = base64.b64decode(str(o[5][0][4]))
            path = os.path.join(os.path.dirname(out), "oru-%s.pdf" % record["control_id"])
            with open(path, "wb") as f:
                f.write(data)
            record["pdf"] = path
    return record


async def handle(reader, writer):
    try:
        while True:
            message = await asyncio.wait_for(reader.readmessage(), 60)
            append(read(message))
            writer.writemessage(message.create_ack())
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
        writer.close()
    except Exception as e:  # a message this HIS cannot read: on the record
        append({"kind": "error", "error": repr(e)})
        writer.close()


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(length, 1 << 20))
        ts = self.headers.get("X-Yunying-Timestamp", "")
        given = dict(p.strip().split("=", 1) for p in self.headers.get("X-Yunying-Signature", "").split(",") if "=" in p)
        expected = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(given.get("hmac-sha256", ""), expected)
        append({"kind": "webhook", "delivery": self.headers.get("X-Yunying-Delivery", ""), "signed": signed, "body": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


async def main():
    http = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    async with await start_hl7_server(handle, host="127.0.0.1", port=0, encoding="utf-8", limit=16 * 1024 * 1024) as server:
        mllp_port = server.sockets[0].getsockname()[1]
        with open(port_file + ".tmp", "w") as f:
            f.write("%d %d" % (mllp_port, http.server_address[1]))
        os.replace(port_file + ".tmp", port_file)
        await asyncio.sleep(300)


asyncio.run(main())
