#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, made from testdata/ and real encoders.

    fuzz/seeds.py OUT_DIR

writes OUT_DIR/<target>/<name> for every target in fuzz/Cargo.toml:
the test data's objects (whole, as raw data sets and as network data
sets), their frames behind the `frame` target's 16-byte header, C-FIND
identifiers and whole associations encoded by pynetdicom, charset samples,
search keys and HTTP requests in the layouts the targets read.
"""

import hashlib
import io
import os
import re
import sys

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.filewriter import write_dataset

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TESTDATA = os.path.join(ROOT, "testdata", "dicom")


def frame_target_array(name):
    """A literal array of the `frame` target, whose indices its header uses."""
    text = open(os.path.join(ROOT, "fuzz", "fuzz_targets", "frame.rs")).read()
    body = re.search(r"const %s: \[[^\]]+\] = \[(.*?)\];" % name, text, re.S).group(1)
    if '"' in body:
        return re.findall(r'"([^"]*)"', body)
    return [int(n) for n in re.findall(r"\d+", body)]


SYNTAXES = frame_target_array("SYNTAXES")
PHOTOMETRIC = frame_target_array("PHOTOMETRIC")
BITS = frame_target_array("BITS_ALLOCATED")


def put(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def testdata():
    for name in sorted(os.listdir(TESTDATA)):
        if name.endswith(".dcm"):
            path = os.path.join(TESTDATA, name)
            with open(path, "rb") as f:
                yield name, f.read(), pydicom.dcmread(path)


def dataset_bytes(ds, implicit):
    body = Dataset()
    for elem in ds:
        if elem.tag.group != 0x0002 and elem.tag != 0x7FE00010:
            body.add(elem)
    fp = pydicom.filebase.DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = implicit
    write_dataset(fp, body)
    return fp.getvalue()


def instances(out):
    for _, raw, ds in testdata():
        put(out, "instance", raw)
        # A raw data set (no preamble, no meta), as some exports write.
        if ds.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"):
            start = 132 + 12 + ds.file_meta.FileMetaInformationGroupLength
            put(out, "instance", raw[start:])


def frames(out):
    for name, _, ds in testdata():
        ts = str(ds.file_meta.TransferSyntaxUID)
        if ts not in SYNTAXES or "PixelData" not in ds:
            continue
        nframes = int(getattr(ds, "NumberOfFrames", 1) or 1)
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            data = next(generate_frames(ds.PixelData, number_of_frames=nframes))
        else:
            data = ds.PixelData[: len(ds.PixelData) // nframes]
        photometric = str(ds.PhotometricInterpretation)
        header = bytes([SYNTAXES.index(ts)])
        header += int(ds.Rows).to_bytes(2, "little") + int(ds.Columns).to_bytes(2, "little")
        header += bytes([0 if ds.SamplesPerPixel == 1 else 1])
        header += bytes([BITS.index(ds.BitsAllocated) if ds.BitsAllocated in BITS else 0])
        header += bytes([ds.BitsStored, ds.HighBit])
        header += bytes([int(ds.PixelRepresentation) | (int(getattr(ds, "PlanarConfiguration", 0) or 0) << 1)])
        header += bytes([PHOTOMETRIC.index(photometric) if photometric in PHOTOMETRIC else 0])
        header += bytes([0, 0, 0, 1, 0])
        assert len(header) == 16, name
        put(out, "frame", header + bytes(data))


def identifiers():
    """C-FIND identifiers at each level, with wildcards, ranges, sequences and Chinese."""
    study = Dataset()
    study.QueryRetrieveLevel = "STUDY"
    study.PatientName = "WANG*"
    study.StudyDate = "20200101-20261231"
    study.StudyInstanceUID = ""
    study.ModalitiesInStudy = "CT\\MR"
    series = Dataset()
    series.QueryRetrieveLevel = "SERIES"
    series.StudyInstanceUID = "1.2.3"
    series.Modality = "C?"
    series.SeriesInstanceUID = ""
    item = Dataset()
    item.CodeValue = ""
    series.RequestAttributesSequence = [item]
    chinese = Dataset()
    chinese.SpecificCharacterSet = "ISO_IR 192"
    chinese.QueryRetrieveLevel = "PATIENT"
    chinese.PatientName = "王*"
    chinese.PatientID = ""
    image = Dataset()
    image.QueryRetrieveLevel = "IMAGE"
    image.SOPInstanceUID = "1.2.3.4\\1.2.3.5"
    image.ContentDate = "-20250101"
    return [study, series, chinese, image]


def network_datasets(out):
    for ds in identifiers():
        for implicit in (True, False):
            put(out, "network_dataset", dataset_bytes(ds, implicit))
    for _, _, ds in testdata():
        put(out, "network_dataset", dataset_bytes(ds, False)[:16384])


def connections(out):
    from pynetdicom import build_context
    from pynetdicom.dimse_messages import C_ECHO_RQ, C_FIND_RQ
    from pynetdicom.dimse_primitives import C_ECHO, C_FIND
    from pynetdicom.pdu import A_ASSOCIATE_RQ, A_RELEASE_RQ, P_DATA_TF
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        MaximumLengthNotification,
        SCP_SCU_RoleSelectionNegotiation,
        SOPClassExtendedNegotiation,
    )
    from pynetdicom.transport import AddressInformation

    def encoded(message, context_id, max_pdu):
        out = b""
        for primitive in message.encode_msg(context_id, max_pdu):
            pdu = P_DATA_TF()
            pdu.from_primitive(primitive)
            out += pdu.encode()
        return out

    contexts = []
    for i, (uid, syntaxes) in enumerate(
        [
            ("1.2.840.10008.1.1", ["1.2.840.10008.1.2"]),
            ("1.2.840.10008.5.1.4.1.2.2.1", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]),
            ("1.2.840.10008.5.1.4.1.2.1.1", ["1.2.840.10008.1.2.1"]),
            ("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.1"]),
        ]
    ):
        cx = build_context(uid, syntaxes)
        cx.context_id = 2 * i + 1
        contexts.append(cx)
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = "FUZZ"
    primitive.called_ae_title = "YUNYING"
    primitive.calling_presentation_address = AddressInformation("127.0.0.1", 40000)
    primitive.called_presentation_address = AddressInformation("127.0.0.1", 11112)
    primitive.presentation_context_definition_list = contexts
    length = MaximumLengthNotification()
    length.maximum_length_received = 16382
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = "1.2.826.0.1.3680043.10.1467"
    role = SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2"
    role.scu_role = True
    role.scp_role = True
    extended = SOPClassExtendedNegotiation()
    extended.sop_class_uid = "1.2.840.10008.5.1.4.1.2.2.1"
    extended.service_class_application_information = b"\x01\x01\x01"
    primitive.user_information = [length, implementation, role, extended]
    rq = A_ASSOCIATE_RQ()
    rq.from_primitive(primitive)
    associate = rq.encode()
    put(out, "connection", associate)

    echo = C_ECHO()
    echo.MessageID = 1
    echo.AffectedSOPClassUID = "1.2.840.10008.1.1"
    message = C_ECHO_RQ()
    message.primitive_to_message(echo)
    echo_pdus = encoded(message, 1, 16382)
    release = A_RELEASE_RQ().encode()
    put(out, "connection", associate + echo_pdus + release)

    for n, ds in enumerate(identifiers()):
        find = C_FIND()
        find.MessageID = 2 + n
        find.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.2.2.1"
        find.Priority = 2
        find.Identifier = io.BytesIO(dataset_bytes(ds, True))
        message = C_FIND_RQ()
        message.primitive_to_message(find)
        pdus = encoded(message, 3, 1024)
        put(out, "connection", associate + echo_pdus + pdus + release)


def charsets(out):
    samples = [
        ("ISO 2022 IR 58", b"\x1b$)A\xcd\xf5^\xce\xb0"),
        ("\\ISO 2022 IR 58", b"Wang^Wei=\x1b$)A\xcd\xf5^\xce\xb0=\x1b$)A\xcd\xf5^\xce\xb0"),
        ("GB18030", "王^伟=王^伟".encode("gb18030")),
        ("GBK", "张三\\李四".encode("gbk")),
        ("ISO_IR 192", "王^伟\\李^娜".encode("utf-8")),
        ("ISO_IR 100", "Müller^Jürgen".encode("latin-1")),
        ("ISO 2022 IR 6\\ISO 2022 IR 87", b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"),
        ("ISO 2022 IR 13\\ISO 2022 IR 87", b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3"),
        ("ISO_IR 144", "Люкceмбypг".encode("iso8859_5", "replace")),
        ("", "王伟".encode("gb18030")),
    ]
    for declared, text in samples:
        put(out, "charset", declared.encode() + b"\0" + text)


def searches(out):
    # level, flags (bit 0 fuzzy, bits 1-2 offset, bit 7 scope), then keys:
    # a byte choosing the attribute (top bit: combined date-time), the value, 0xFF.
    put(out, "search", bytes([1, 0]) + b"\x00WANG*\xff\x05" + b"20200101-\xff")
    put(out, "search", bytes([3, 1]) + b"\x02%_\\'\"\xff\x83-20260101\xff\x10" + "王*".encode())
    put(out, "search", bytes([2, 0x80]) + b"\x01ISSUER\xff\x04\xff\x07" + b"1.2.3\\1.2.4")
    put(out, "search", bytes([0, 2]) + b"\x00*?*\xff\x00" + "ÀÉ^ü".encode())


def http(out):
    put(out, "http", b"\x00\x00PatientName=WANG*&limit=2&offset=1&includefield=all&fuzzymatching=true")
    put(out, "http", b"\x00\x01StudyDate=20200101-20261231&ModalitiesInStudy=CT&00100020=%25")
    put(out, "http", b"\x01\x00SeriesInstanceUID=1.2.3&SeriesInstanceUID=1.2.4&Modality=M%3F")
    boundary = b"yunying-fuzz-boundary"
    for name, raw, _ in list(testdata())[:6]:
        body = b"--" + boundary + b"\r\nContent-Type: application/dicom\r\n\r\n" + raw + b"\r\n--" + boundary + b"--\r\n"
        put(out, "http", b"\x02\x00" + body)
    put(out, "http", b"\x03\x00multipart/related; type=\"application/dicom\"; boundary=b\n--b\r\n\r\nDICM\r\n--b--")
    put(out, "http", b"\x04\x00image/png\nwindow=40,400,LINEAR&viewport=64,64&quality=50")
    put(out, "http", b"\x05\x00multipart/related; type=\"application/octet-stream\"; transfer-syntax=*\n1,1,2")
    put(out, "http", b"\x06\x00" + b'{"study":"1.2.3","expires_hours":24,"phone":"13800000000"}')
    put(out, "http", b"\x06\x04" + b'{"kind":"consent","studies":["1.2.3"],"reason":"r","minutes":5}')
    put(out, "http", b"\x06\x09" + b'{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","name":[{"text":"W"}]}}]}')
    put(out, "http", b"\x07\x00application/dicom+json")


def dicomdirs(out):
    """Film directories: NUL-separated fields, six per entry (patient ID and
    name, study, series and SOP instance UID, study description)."""
    for _, _, ds in testdata():
        fields = [str(ds.get(k, "")) for k in ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID",
                                               "SOPInstanceUID", "StudyDescription")]
        put(out, "dicomdir", "\0".join(fields).encode("utf-8"))
    two = ["P1", "Chen^JianGuo=陈^建国", "1.2.1", "1.2.1.1", "1.2.1.1.1", "胸部CT",
           "P1", "Chen^JianGuo=陈^建国", "1.2.1", "1.2.1.2", "1.2.1.2.1", ""]
    put(out, "dicomdir", "\0".join(two).encode("utf-8"))


def main():
    out = sys.argv[1]
    dicomdirs(out)
    instances(out)
    frames(out)
    network_datasets(out)
    connections(out)
    charsets(out)
    searches(out)
    http(out)


if __name__ == "__main__":
    main()
