#!/usr/bin/env python3
"""pynetdicom as a Storage Commitment Push Model requester (SCU).

  commitment_requester.py same --port P --present FILE... [--unknown N]
      N-ACTION on one association for the present files plus N unknown
      SOP instances; waits for the N-EVENT-REPORT on that association.
  commitment_requester.py separate --port P --our-port Q --present FILE...
      N-ACTION, release at once, then wait for the N-EVENT-REPORT on an
      association the SCP opens to us (AE COMMITSCU on port Q).
  commitment_requester.py action --port P --present FILE...
      N-ACTION and release at once; prints {"action_status",
      "transaction_uid"} and waits for no report (one may come later).
  commitment_requester.py listen --our-port Q --present FILE...
      Only wait for an N-EVENT-REPORT on port Q (or for --expect N of them);
      prints what came first, with its "transaction_uid" (and keeps
      listening --linger seconds more to count "reports" that came twice).

Prints one JSON line: {"action_status", "event_type", "transaction_ok",
"committed": [...], "failed": [[uid, reason], ...], "same_association"}.
Every wait is bounded (--timeout); exits 2 when no report came. The
calling AE title is COMMITSCU unless --calling names another.
"""
import argparse
import json
import sys
import threading
import time

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt, _config
from pynetdicom.sop_class import StorageCommitmentPushModel

_config.LOG_HANDLER_LEVEL = "none"
WELL_KNOWN = "1.2.840.10008.1.20.1.1"


def request(files, unknown):
    ds = Dataset()
    ds.TransactionUID = generate_uid()
    items = []
    for f in files:
        meta = dcmread(f, stop_before_pixels=True).file_meta
        it = Dataset()
        it.ReferencedSOPClassUID = meta.MediaStorageSOPClassUID
        it.ReferencedSOPInstanceUID = meta.MediaStorageSOPInstanceUID
        items.append(it)
    for _ in range(unknown):
        it = Dataset()
        it.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        it.ReferencedSOPInstanceUID = generate_uid(prefix="2.25.")
        items.append(it)
    ds.ReferencedSOPSequence = items
    return ds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["same", "separate", "action", "listen"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--aet", default="YUNYING")
    p.add_argument("--calling", default="COMMITSCU")
    p.add_argument("--our-port", type=int, default=0)
    p.add_argument("--present", nargs="+", required=True)
    p.add_argument("--unknown", type=int, default=0)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--linger", type=float, default=0.0)
    p.add_argument("--expect", type=int, default=1)
    args = p.parse_args()

    reports = []
    done = threading.Event()

    def on_report(event, same):
        reports.append((event.request.EventTypeID, event.event_information, same))
        done.set()
        return 0x0000, None

    ae = AE(ae_title=args.calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = args.timeout
    server = None
    if args.mode == "listen":
        return listen(args, ae)
    if args.mode == "separate":
        # The SCP opens the association as requestor and takes the SCP role.
        ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
        server = ae.start_server(("127.0.0.1", args.our_port), block=False,
                                 evt_handlers=[(evt.EVT_N_EVENT_REPORT, lambda e: on_report(e, False))])
    ae.add_requested_context(StorageCommitmentPushModel)
    ds = request(args.present, args.unknown)
    handlers = [(evt.EVT_N_EVENT_REPORT, lambda e: on_report(e, True))] if args.mode == "same" else []
    assoc = ae.associate("127.0.0.1", args.port, ae_title=args.aet, evt_handlers=handlers)
    if not assoc.is_established:
        print(json.dumps({"association": "rejected"}))
        sys.exit(3)
    status, _ = assoc.send_n_action(ds, 1, StorageCommitmentPushModel, WELL_KNOWN)
    action_status = int(status.Status) if status is not None and "Status" in status else None
    if args.mode == "action":
        assoc.release()
        print(json.dumps({"action_status": action_status, "transaction_uid": str(ds.TransactionUID)}))
        return
    if args.mode == "separate":
        assoc.release()
    done.wait(args.timeout)
    if args.mode == "same":
        assoc.release()
    if server is not None:
        time.sleep(0.2)  # let the SCP's association close cleanly
        server.shutdown()
    if not reports:
        print(json.dumps({"action_status": action_status, "error": "no N-EVENT-REPORT"}))
        sys.exit(2)
    event_type, info, same = reports[0]
    out = {
        "action_status": action_status,
        "event_type": int(event_type),
        "same_association": same,
        "transaction_ok": str(info.TransactionUID) == str(ds.TransactionUID),
        "committed": [str(i.ReferencedSOPInstanceUID) for i in info.get("ReferencedSOPSequence", [])],
        "failed": [[str(i.ReferencedSOPInstanceUID), int(i.FailureReason)] for i in info.get("FailedSOPSequence", [])],
        "unknown_uids": [str(i.ReferencedSOPInstanceUID) for i in ds.ReferencedSOPSequence[len(args.present):]],
    }
    print(json.dumps(out))


def listen(args, ae):
    """Serve as the requester's SCP side only, until a report comes."""
    reports = []
    done = threading.Event()

    def on_report(event):
        reports.append((event.request.EventTypeID, event.event_information))
        if len(reports) >= args.expect:
            done.set()
        return 0x0000, None

    ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
    server = ae.start_server(("127.0.0.1", args.our_port), block=False, evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    print(json.dumps({"listening": args.our_port}), flush=True)
    done.wait(args.timeout)
    time.sleep(args.linger)
    time.sleep(0.2)  # let the SCP's association close cleanly
    server.shutdown()
    if not reports:
        print(json.dumps({"error": "no N-EVENT-REPORT"}))
        sys.exit(2)
    event_type, info = reports[0]
    present = {str(dcmread(f, stop_before_pixels=True).file_meta.MediaStorageSOPInstanceUID) for f in args.present}
    committed = [str(i.ReferencedSOPInstanceUID) for i in info.get("ReferencedSOPSequence", [])]
    print(json.dumps({
        "event_type": int(event_type),
        "transaction_uid": str(info.TransactionUID),
        "committed": committed,
        "all_present_committed": set(committed) == present,
        "failed": [[str(i.ReferencedSOPInstanceUID), int(i.FailureReason)] for i in info.get("FailedSOPSequence", [])],
        "reports": len(reports),
    }))


if __name__ == "__main__":
    main()
