#!/usr/bin/env python3
"""C-GET a study over DICOM TLS with pynetdicom (DCMTK's getscu has no TLS).

  tls_get.py PORT CA KEY CERT STUDY_UID OUT_DIR

Writes each received data set, as its bytes arrived, to OUT_DIR/N.raw and
prints the final C-GET status (exits 3 when the association fails).
"""
import ssl
import sys

from pydicom.dataset import Dataset
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelGet

_config.LOG_HANDLER_LEVEL = "none"

port, ca, key, cert, study, out = sys.argv[1:]
context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
context.load_cert_chain(cert, key)
ae = AE(ae_title="TLSFIND")
ae.network_timeout = ae.dimse_timeout = ae.acse_timeout = 30
ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
ae.add_requested_context(CTImageStorage, ["1.2.840.10008.1.2.1"])
received = []


def on_store(event):
    received.append(event.request.DataSet.getvalue())
    with open(f"{out}/{len(received)}.raw", "wb") as f:
        f.write(received[-1])
    return 0x0000


assoc = ae.associate(
    "127.0.0.1", int(port), ae_title="YUNYING", ext_neg=[build_role(CTImageStorage, scp_role=True)],
    evt_handlers=[(evt.EVT_C_STORE, on_store)], tls_args=(context, "localhost"),
)
if not assoc.is_established:
    sys.exit(3)
query = Dataset()
query.QueryRetrieveLevel = "STUDY"
query.StudyInstanceUID = study
statuses = [status.Status for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet) if status]
assoc.release()
print(f"{statuses[-1]:04X}" if statuses else "none")
