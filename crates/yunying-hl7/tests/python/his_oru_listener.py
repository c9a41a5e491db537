"""A stand-in for a hospital HIS: an MLLP listener from the python `hl7`
library (hl7.mllp.start_hl7_server) that takes one ORU^R01, reads it with
the library's parser and accessors, answers with the library's own ACK
(`message.create_ack`), and prints what it read.

Used by tests/oru_python.rs; usage: his_oru_listener.py [ACK_CODE].
Prints the port it listens on (127.0.0.1, a free port) as its first line,
then one line of JSON (a flat object of strings and numbers) once the
message is answered. Exits after one message, or after 20 s with an
"error" in the JSON and status 2.
"""

import asyncio
import base64
import json
import sys

import hl7
from hl7.mllp import start_hl7_server

TIMEOUT_SECONDS = 20
FINDINGS = "18782-3"
IMPRESSION = "19005-8"
STUDY_UID = "110180"


def text(message, value):
    """An FT value unescaped by the library; its line breaks as LF."""
    return message.unescape(value).replace("\r\n", "\n").replace("\r", "\n")


def read(message):
    """What a HIS would take from the report."""
    out = {
        "message_type": str(message.segment("MSH")[9]),
        "control_id": message["MSH.F10"],
        "version": message["MSH.F12"],
        "charset": message["MSH.F18"],
        "pid3_id": message["PID.F3.R1.C1"],
        "pid3_authority": message["PID.F3.R1.C4"],
        "pid3_type": message["PID.F3.R1.C5"],
        "pid5_repetitions": len(message.segment("PID")[5]),
        "birth_date": message["PID.F7"],
        "sex": message["PID.F8"],
        "orc1": message["ORC.F1"],
        "obr3": message["OBR.F3"],
        "obr4_text": message["OBR.F4.R1.C2"],
        "obr18": message["OBR.F18"],
        "obr25": message["OBR.F25"],
        "obr32_family": message["OBR.F32.R1.C1.S2"],
        "nte": message["NTE.F3"] if any(str(s[0]) == "NTE" for s in message) else "",
    }
    for n in (1, 2):
        for key, component in (("family", 1), ("given", 2), ("type", 7), ("representation", 8)):
            out[f"pid5_{n}_{key}"] = message[f"PID.F5.R{n}.C{component}"]
    sections = {FINDINGS: [], IMPRESSION: []}
    types, flags, statuses = [], [], []
    for number, obx in enumerate(message.segments("OBX"), start=1):
        key = f"OBX{number}"
        value_type = message[f"{key}.F2"]
        code = message[f"{key}.F3.R1.C1"]
        types.append(value_type)
        statuses.append(message[f"{key}.F11"])
        if value_type in ("FT", "TX"):
            sections.setdefault(code, []).append(text(message, str(obx[5])))
            flags.append(message[f"{key}.F8"])
        elif value_type == "ST" and code == STUDY_UID:
            out["study_uid"] = message[f"{key}.F5"]
        elif value_type == "ED":
            out["pdf_type"] = message[f"{key}.F5.R1.C2"] + "/" + message[f"{key}.F5.R1.C3"]
            out["pdf_encoding"] = message[f"{key}.F5.R1.C4"]
            out["pdf_hex"] = base64.b64decode(message[f"{key}.F5.R1.C5"], validate=True).hex()
    # Several OBX of one section (were there any) are re-joined as lines.
    out["findings"] = "\n".join(sections[FINDINGS])
    out["impression"] = "\n".join(sections[IMPRESSION])
    out["obx_types"] = ",".join(types)
    out["obx8_flags"] = ",".join(flags)
    out["obx11_statuses"] = ",".join(statuses)
    return out


async def main():
    ack_code = sys.argv[1] if len(sys.argv) > 1 else "AA"
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    async def on_connection(reader, writer):
        try:
            message = await reader.readmessage()  # hl7.parse of the frame, decoded as UTF-8
            try:
                result = read(message)
            except Exception as e:  # noqa: BLE001 - reported to the test
                result = {"error": f"reading the message: {e!r}"}
            writer.writemessage(message.create_ack(ack_code))
            await writer.drain()
        except Exception as e:  # noqa: BLE001
            result = {"error": f"receiving: {e!r}"}
        finally:
            writer.close()
        if not done.done():
            done.set_result(result)

    server = await start_hl7_server(on_connection, "127.0.0.1", 0, encoding="utf-8", limit=16 * 1024 * 1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        try:
            result = await asyncio.wait_for(done, TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            print(json.dumps({"error": f"no message within {TIMEOUT_SECONDS} s"}), flush=True)
            sys.exit(2)
    print(json.dumps(result, ensure_ascii=False, sort_keys=True), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
