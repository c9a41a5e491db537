#!/usr/bin/env python3
"""pynetdicom peers for the query/retrieve integration tests.

  qr.py flaky-scp --port P --ae AE [--abort-after N] [--delay S] [--seconds S]
      A storage SCP accepting every storage class in every transfer syntax.
      With --abort-after N it answers N C-STOREs, then goes away (aborts its
      associations and stops listening) on the next one (a destination that goes away mid-transfer); --delay
      slows each C-STORE. Prints READY when listening; exits after
      --seconds.

  qr.py move --port P --dest AE --level STUDY --uid UID [--cancel-after N] [--calling AE]
      C-MOVE (Study Root) and print one JSON line per response: status,
      sub-operation counts and the Failed SOP Instance UID List. With
      --cancel-after N it sends C-CANCEL after the Nth pending response.

  qr.py find --port P [--ext 1,1,1] [--calling AE] [--echo] KEY=VALUE...
      C-FIND (Study Root) with optional SOP Class Extended Negotiation
      bytes (relational, combined date-time, fuzzy names); prints one JSON
      line per response: {"status", "identifier": {keyword: value}}. With
      --echo it also proposes Verification and first prints {"echo": status}.

  Both print {"association": "rejected", "result", "source", "reason"} and
  exit 3 when the association is rejected. The calling AE is QRSCU unless
  --calling says otherwise.
"""
import argparse
import json
import sys
import threading
import time

from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt, _config
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelMove, Verification

_config.LOG_HANDLER_LEVEL = "none"

ALL_SYNTAXES = [
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203", "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.107",
]


def flaky_scp(args):
    ae = AE(ae_title=args.ae)
    ae.network_timeout = ae.dimse_timeout = ae.acse_timeout = 30
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, ALL_SYNTAXES)
    count = {"n": 0}

    def on_store(event):
        time.sleep(args.delay)
        count["n"] += 1
        if args.abort_after and count["n"] > args.abort_after:
            # Gone away: stop listening and abort every association instead
            # of answering this C-STORE.
            threading.Thread(target=server.shutdown, daemon=True).start()
            event.assoc.abort()
            return 0xC000
        return 0x0000

    server = None
    server = ae.start_server(("127.0.0.1", args.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    print("READY", flush=True)
    time.sleep(args.seconds)
    server.shutdown()


def rejected(assoc):
    out = {"association": "rejected"}
    rj = getattr(assoc.acceptor, "primitive", None) if assoc.is_rejected else None
    if rj is not None:
        out.update(result=int(rj.result), source=int(rj.result_source), reason=int(rj.diagnostic))
    print(json.dumps(out), flush=True)
    sys.exit(3)


def move(args):
    ae = AE(ae_title=args.calling)
    ae.network_timeout = ae.dimse_timeout = ae.acse_timeout = 60
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="YUNYING")
    if not assoc.is_established:
        rejected(assoc)
    ds = Dataset()
    ds.QueryRetrieveLevel = args.level
    ds.StudyInstanceUID = args.uid
    pending = 0
    responses = assoc.send_c_move(ds, args.dest, StudyRootQueryRetrieveInformationModelMove, msg_id=7)
    for status, identifier in responses:
        if status is None:
            print(json.dumps({"error": "no response (timeout or abort)"}), flush=True)
            break
        out = {"status": int(status.Status)}
        for key, name in [("NumberOfRemainingSuboperations", "remaining"), ("NumberOfCompletedSuboperations", "completed"),
                          ("NumberOfFailedSuboperations", "failed"), ("NumberOfWarningSuboperations", "warning")]:
            if key in status:
                out[name] = int(getattr(status, key))
        if identifier is not None and "FailedSOPInstanceUIDList" in identifier:
            v = identifier.FailedSOPInstanceUIDList
            out["failed_uids"] = [str(u) for u in (v if isinstance(v, (list, tuple)) or hasattr(v, "__iter__") and not isinstance(v, str) else [v])]
        print(json.dumps(out), flush=True)
        if out["status"] in (0xFF00, 0xFF01):
            pending += 1
            if args.cancel_after and pending == args.cancel_after:
                context_id = next(cx.context_id for cx in assoc.accepted_contexts
                                  if cx.abstract_syntax == StudyRootQueryRetrieveInformationModelMove)
                assoc.send_c_cancel(7, context_id)
    assoc.release()


def find(args):
    ae = AE(ae_title=args.calling)
    ae.network_timeout = ae.dimse_timeout = ae.acse_timeout = 30
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    if args.echo:
        ae.add_requested_context(Verification)
    ext = []
    if args.ext:
        item = SOPClassExtendedNegotiation()
        item.sop_class_uid = StudyRootQueryRetrieveInformationModelFind
        item.service_class_application_information = bytes(int(b) for b in args.ext.split(","))
        ext.append(item)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="YUNYING", ext_neg=ext)
    if not assoc.is_established:
        rejected(assoc)
    if args.echo:
        status = assoc.send_c_echo()
        print(json.dumps({"echo": int(status.Status) if status is not None and "Status" in status else None}), flush=True)
    ds = Dataset()
    for kv in args.keys:
        k, _, v = kv.partition("=")
        setattr(ds, k, v)
    for status, identifier in assoc.send_c_find(ds, StudyRootQueryRetrieveInformationModelFind):
        if status is None:
            print(json.dumps({"error": "no response"}), flush=True)
            break
        out = {"status": int(status.Status)}
        if identifier is not None:
            out["identifier"] = {e.keyword: str(e.value) for e in identifier if e.keyword}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    assoc.release()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flaky-scp")
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--ae", required=True)
    f.add_argument("--abort-after", type=int, default=0)
    f.add_argument("--delay", type=float, default=0.0)
    f.add_argument("--seconds", type=float, default=60.0)
    m = sub.add_parser("move")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--dest", required=True)
    m.add_argument("--level", default="STUDY")
    m.add_argument("--uid", required=True)
    m.add_argument("--cancel-after", type=int, default=0)
    m.add_argument("--calling", default="QRSCU")
    q = sub.add_parser("find")
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--ext", default="")
    q.add_argument("--calling", default="QRSCU")
    q.add_argument("--echo", action="store_true")
    q.add_argument("keys", nargs="*")
    args = p.parse_args()
    {"flaky-scp": flaky_scp, "move": move, "find": find}[args.cmd](args)


if __name__ == "__main__":
    main()
