#!/usr/bin/env python3
"""pynetdicom C-STORE client used by the integration tests.

Sends each file's dataset bytes exactly as they are in the file (pynetdicom's
chunked mode: no decode/re-encode), proposing the file's own transfer syntax,
and prints one JSON line per file: {"file", "sop_instance_uid", "status"}.

  store.py --port P [--aet YUNYING] [--calling PYNET] FILE...
  store.py --port P --assocs 4 --ack-log LOG DIR   # crash test: parallel
      associations; every acknowledged success is appended (and flushed) to
      LOG as it arrives, so a killed server can be checked against it.
  store.py --port P --sop-class UID FILE   # propose the context under a
      different SOP class than the dataset's (mismatch test)
"""
import argparse
import json
import os
import sys
import threading

from pydicom import dcmread
from pynetdicom import AE, _config

_config.STORE_SEND_CHUNKED_DATASET = True
_config.LOG_HANDLER_LEVEL = "none"


def file_info(path):
    ds = dcmread(path, stop_before_pixels=True, force=True)
    meta = ds.file_meta
    return str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID), str(meta.TransferSyntaxUID)


def associate(args, contexts):
    ae = AE(ae_title=args.calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    for sop_class, ts in contexts:
        ae.add_requested_context(sop_class, ts)
    assoc = ae.associate("127.0.0.1", args.port, ae_title=args.aet)
    if not assoc.is_established:
        out = {"association": "rejected"}
        rj = getattr(assoc.acceptor, "primitive", None) if assoc.is_rejected else None
        if rj is not None:
            out.update(result=int(rj.result), source=int(rj.result_source), reason=int(rj.diagnostic))
        print(json.dumps(out), flush=True)
        sys.exit(3)
    return assoc


def send_files(args):
    infos = {f: file_info(f) for f in args.files}
    contexts = sorted({(args.sop_class or c, ts) for c, _, ts in infos.values()})
    assoc = associate(args, contexts)
    for i, (f, (sop_class, sop_uid, _)) in enumerate(infos.items()):
        status = None
        try:
            rsp = assoc.send_c_store(f, msg_id=i + 1)
            status = int(rsp.Status) if rsp is not None and "Status" in rsp else None
            comment = str(rsp.get("ErrorComment", "")) if rsp is not None else ""
        except Exception as e:  # a refused context, a dropped association
            comment = f"{type(e).__name__}: {e}"
        print(json.dumps({"file": f, "sop_instance_uid": sop_uid, "status": status, "comment": comment}), flush=True)
    assoc.release()


def send_parallel(args):
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.files[0]) for f in fs)
    lock = threading.Lock()
    log = open(args.ack_log, "a", buffering=1)

    def worker(chunk):
        if not chunk:
            return
        contexts = sorted({(c, ts) for c, _, ts in map(file_info, chunk[:1])})
        try:
            assoc = associate(args, contexts)
            for i, f in enumerate(chunk):
                rsp = assoc.send_c_store(f, msg_id=i + 1)
                if rsp is not None and rsp.get("Status") == 0:
                    with lock:
                        log.write(file_info(f)[1] + "\n")
                        log.flush()
                        os.fsync(log.fileno())
            assoc.release()
        except Exception:
            pass  # the server was killed: that is the point

    n = args.assocs
    threads = [threading.Thread(target=worker, args=(files[i::n],)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def hold(args):
    """Open an association, print "held", keep it open until stdin closes."""
    assoc = associate(args, [("1.2.840.10008.1.1", "1.2.840.10008.1.2")])
    print(json.dumps({"held": True}), flush=True)
    sys.stdin.read()
    assoc.release()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--aet", default="YUNYING")
    p.add_argument("--calling", default="PYNETDICOM")
    p.add_argument("--sop-class")
    p.add_argument("--assocs", type=int, default=0)
    p.add_argument("--ack-log")
    p.add_argument("--hold", action="store_true", help="hold one association open until stdin closes")
    p.add_argument("files", nargs="*")
    args = p.parse_args()
    if args.hold:
        hold(args)
    elif args.assocs:
        send_parallel(args)
    else:
        send_files(args)


if __name__ == "__main__":
    main()
