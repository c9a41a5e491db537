"""Send ADT messages to an MLLP server with the python `hl7` library
(hl7.client.MLLPClient) and print one line per ACK received:
`<MSA-2 control id> <MSA-1 code> <ERR code or ->` (for the GB 18030
message also the ACK's MSH-4 and MSH-18, decoded as GB 18030).

Used by tests/python_client.rs; usage: send_adt.py HOST PORT.
"""

import sys

import hl7
from hl7.client import MLLPClient

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def msh(trigger, control_id, charset="UNICODE UTF-8", receiver="REGION"):
    return (
        f"MSH|^~\\&|HIS-MPI|DEMO-HOSP|YUNYING|{receiver}|20261206120000||"
        f"ADT^{trigger}^ADT_A01|{control_id}|P|2.5|||AL|NE|CHN|{charset}\r"
        f"EVN|{trigger}|20261206120000\r"
    )


REGISTER = msh("A04", "PY-A04") + (
    "PID|1||P1001^^^DEMO-HOSP&2.16.156.1&ISO^PI~110101199001011234^^^CHN^NNCHN~"
    "SI9876^^^SI^SS||Wang^Wei^^^^^L^A~王^伟^^^^^L^I||19900101|M|||"
    "中山路1号^^北京^北京^100000^CHN^H||13800138000^PRN^CP\r"
    "PV1|1|O\r"
)
UPDATE = msh("A08", "PY-A08") + (
    "PID|1||P1001^^^DEMO-HOSP&2.16.156.1&ISO^PI||Wang^Wei^^^^^L^A~王^伟^^^^^L^I||19900101|M|||"
    "长安街2号^^北京^北京^100000^CHN^H||13900139000^PRN^CP\r"
    "PV1|1|O\r"
)
MERGE = msh("A40", "PY-A40") + (
    "PID|1||P1001^^^DEMO-HOSP&2.16.156.1&ISO^PI||Wang^Wei^^^^^L^A\r"
    "MRG|P0999^^^DEMO-HOSP&2.16.156.1&ISO^PI\r"
)
UNSUPPORTED = msh("A03", "PY-A03") + "PID|1||P1001^^^DEMO-HOSP^PI\rPV1|1|I\r"
GB18030 = msh("A04", "PY-GB", "GB 18030-2000", "区域影像云") + "PID|1||P2002^^^DEMO-HOSP^PI||億^乗^^^^^L^I~Yi^Cheng^^^^^L^A||19851212|F\r"


def code(ack):
    msa = ack.segment("MSA")
    try:
        err = str(ack.segment("ERR")[3][0][0])
    except KeyError:
        err = "-"
    return f"{msa[2]} {msa[1]} {err}"


def send(client, text, encoding, extra=False):
    message = hl7.parse(text)  # the library's own parser: the message is well formed for it
    assert str(message.segment("MSH")[10]) == text.split("|")[9]
    raw = client.send_message(message)
    assert raw.startswith(SB) and raw.endswith(EB + CR), raw
    ack = hl7.parse(raw.strip(SB + EB + CR).decode(encoding))
    # With `extra`: the ACK's sending facility (MSH-4) and charset (MSH-18).
    tail = f" {ack.segment('MSH')[4]} {ack.segment('MSH')[18]}" if extra else ""
    print(code(ack) + tail, flush=True)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    with MLLPClient(host, port) as client:  # several messages on one connection
        for text in (REGISTER, UPDATE, MERGE, UNSUPPORTED):
            send(client, text, "utf-8")
    with MLLPClient(host, port, encoding="gb18030") as client:
        send(client, GB18030, "gb18030", extra=True)


if __name__ == "__main__":
    main()
