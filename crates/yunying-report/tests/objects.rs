//! The built objects, checked by the tools a receiving PACS's engineer
//! would use: DCMTK's `dsrdump` (SR), `dcmdump`, `dcmpschk` and `dcmp2pgm`
//! (the presentation state), dicom3tools' `dciodvfy`, pydicom, and
//! poppler's `pdftotext`. Missing tools are installed (Debian packages
//! dicom3tools, dcmtk, poppler-utils) when this runs as root.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use dicom_dictionary_std::tags;
use yunying_report::*;

/// dciodvfy warnings these objects are known to draw, each for a reason
/// that does not make the object wrong:
const ACCEPTED_WARNINGS: &[(&str, &str)] = &[
    (
        "Unrecognized defined term <99YUNYING> for value 1 of attribute <Coding Scheme Designator>",
        "our private coding scheme (99 prefix as PS3.16 8.2 reserves for private schemes), declared in the Coding Scheme \
         Identification Sequence; dicom3tools knows only the registered designators",
    ),
    (
        "Retired Person Name form",
        "a PN of one component without '^' (a display name such as 李医生): valid PN; dicom3tools suspects the \
         ACR-NEMA form of names without component delimiters",
    ),
];

struct Files {
    _dir: tempfile::TempDir,
    sr: PathBuf,
    kos: Option<PathBuf>,
    gsps: Option<PathBuf>,
    pdf_dicom: PathBuf,
    pdf: PathBuf,
}

fn write(built: &Built) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    std::fs::write(p("sr.dcm"), &built.sr).unwrap();
    std::fs::write(p("pdf.dcm"), &built.pdf_dicom).unwrap();
    std::fs::write(p("report.pdf"), &built.pdf).unwrap();
    let kos = built.kos.as_ref().map(|k| {
        std::fs::write(p("kos.dcm"), k).unwrap();
        p("kos.dcm")
    });
    let gsps = built.gsps.as_ref().map(|g| {
        std::fs::write(p("gsps.dcm"), g).unwrap();
        p("gsps.dcm")
    });
    // Set YUNYING_REPORT_KEEP=dir to look at the objects afterwards.
    if let Ok(keep) = std::env::var("YUNYING_REPORT_KEEP") {
        std::fs::create_dir_all(&keep).unwrap();
        for name in ["sr.dcm", "pdf.dcm", "report.pdf", "kos.dcm", "gsps.dcm"] {
            if p(name).exists() {
                std::fs::copy(p(name), Path::new(&keep).join(name)).unwrap();
            }
        }
    }
    Files { sr: p("sr.dcm"), kos, gsps, pdf_dicom: p("pdf.dcm"), pdf: p("report.pdf"), _dir: dir }
}

/// dciodvfy: no error, and no warning but the accepted ones.
fn dciodvfy(path: &Path) {
    let (_, out) = run("dciodvfy", &[path.to_str().unwrap()]);
    let mut unexpected = Vec::new();
    for line in out.lines() {
        let error = line.starts_with("Error");
        let unaccepted = line.starts_with("Warning") && !ACCEPTED_WARNINGS.iter().any(|(w, _)| line.contains(w));
        if error || unaccepted {
            unexpected.push(line.to_string());
        }
    }
    assert!(unexpected.is_empty(), "dciodvfy {}:\n{}\n--- full output:\n{out}", path.display(), unexpected.join("\n"));
}

fn dsrdump(path: &Path) -> String {
    let (ok, out) = run("dsrdump", &["+Pl", "+Pu", "+Pc", path.to_str().unwrap()]);
    assert!(ok, "dsrdump {} failed:\n{out}", path.display());
    out
}

fn dcmdump(path: &Path) -> String {
    let (ok, out) = run("dcmdump", &[path.to_str().unwrap()]);
    assert!(ok, "dcmdump {} failed:\n{out}", path.display());
    out
}

/// Writes a grayscale image (MONOCHROME2, 12 bits, a flat 1024) of `rows`
/// by `columns`, of `frames` frames when given, for DCMTK to apply the
/// presentation state to.
const MAKE_IMAGE: &str = r#"
import sys
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
out, cls, study, series, inst, rows, cols, frames = sys.argv[1:9]
rows, cols, frames = int(rows), int(cols), int(frames)
meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = cls
meta.MediaStorageSOPInstanceUID = inst
meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds = Dataset()
ds.file_meta = meta
ds.SOPClassUID, ds.SOPInstanceUID = cls, inst
ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
ds.PatientName, ds.PatientID, ds.Modality = "Zhang^San", "P0012345", "CT"
ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
if frames > 1:
    ds.NumberOfFrames = frames
ds.PixelData = b"\x00\x04" * (rows * cols * frames)
ds.save_as(out, enforce_file_format=True)
"#;

fn make_image(dir: &Path, img: &ImageRef, frames: u32) -> PathBuf {
    let path = dir.join(format!("{}.dcm", img.sop_instance_uid));
    let (rows, columns) = (img.rows.unwrap().to_string(), img.columns.unwrap().to_string());
    let args = [
        "-c",
        MAKE_IMAGE,
        path.to_str().unwrap(),
        &img.sop_class_uid,
        STUDY_UID,
        &img.series_instance_uid,
        &img.sop_instance_uid,
        &rows,
        &columns,
        &frames.to_string(),
    ];
    let (ok, out) = run("python3", &args);
    assert!(ok, "making a test image: {out}");
    path
}

/// DCMTK applies the presentation state to the image (frame): `dcmp2pgm`
/// renders it and dumps the graphics it finds for it. Returns the dump.
fn dcmp2pgm(gsps: &Path, image: &Path, frame: Option<u32>) -> String {
    let out = image.with_extension("pgm");
    let frame = frame.unwrap_or(1).to_string();
    let (ok, dump) = run("dcmp2pgm", &["-v", "-p", gsps.to_str().unwrap(), "-f", &frame, image.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(ok && dump.contains("DUMPING PRESENTATION STATE") && out.exists(), "dcmp2pgm {}:\n{dump}", image.display());
    dump
}

/// DCMTK prints the images with the presentation state applied
/// (`dcmpsprt`, into a print database in a directory of its own).
fn dcmpsprt(gsps: &Path, images: &[PathBuf]) {
    let dir = tempfile::tempdir().unwrap();
    for d in ["database", "spool", "lut", "log", "reports"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    let config = dir.path().join("dcmpstat.cfg");
    std::fs::write(
        &config,
        "[[GENERAL]]\n[APPLICATION]\nLogDirectory = log\n[PRINT]\nDirectory = spool\nMinPrintResolution = 1024\\1024\n\
         MaxPrintResolution = 8192\\8192\n[DATABASE]\nDirectory = database\n[LUT]\nDirectory = lut\n[REPORT]\nDirectory = reports\n",
    )
    .unwrap();
    let mut args = vec!["-v".to_string(), "-c".into(), config.to_str().unwrap().into()];
    for img in images {
        args.extend(["+p".into(), gsps.to_str().unwrap().into(), img.to_str().unwrap().into()]);
    }
    let out = std::process::Command::new("dcmpsprt").args(&args).current_dir(dir.path()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let hardcopies = std::fs::read_dir(dir.path().join("database"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("HG_"))
        .count();
    assert!(out.status.success() && !text.contains("E: ") && !text.contains("F: "), "dcmpsprt:\n{text}");
    assert_eq!(hardcopies, images.len(), "one hardcopy image per image:\n{text}");
}

/// One graphic annotation the GSPS should hold, in order.
struct Drawn<'a> {
    image: &'a ImageRef,
    /// The Referenced Frame Number, when the annotation names its image's frame.
    frame: Option<u32>,
    /// Whether the item names its image (it does unless the GSPS has one image).
    named: bool,
    graphic_type: &'a str,
    data: Vec<(f64, f64)>,
    text: &'a str,
}

const PYDICOM_GSPS: &str = r#"
import json, sys
import pydicom
exp = json.load(open(sys.argv[1], encoding="utf-8"))
ds = pydicom.dcmread(exp["path"])
assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1" and ds.Modality == "PR", ds.SOPClassUID
assert ds.SpecificCharacterSet == "ISO_IR 192"
assert str(ds.PatientName) == exp["patient_name"], str(ds.PatientName)
assert ds.StudyInstanceUID == exp["study_uid"] and ds.InstanceNumber == 1
assert ds.SeriesInstanceUID == exp["series_uid"] and ds.SOPInstanceUID == exp["sop_uid"]
assert ds.ContentLabel == "MEASUREMENTS" and ds.ContentDescription.startswith("影像诊断报告测量")
assert str(ds.ContentCreatorName) == exp["creator"], str(ds.ContentCreatorName)
assert ds.PresentationCreationDate == exp["date"] and ds.PresentationCreationTime == exp["time"]
assert "ContentDate" not in ds
assert ds.PresentationLUTShape == "IDENTITY"
assert [l.GraphicLayer for l in ds.GraphicLayerSequence] == ["MEASUREMENTS"]
assert ds.GraphicLayerSequence[0].GraphicLayerOrder == 1
def frames_of(i):
    if "ReferencedFrameNumber" not in i:
        return None
    v = i.ReferencedFrameNumber
    return [int(x) for x in v] if isinstance(v, pydicom.multival.MultiValue) else [int(v)]
refs = []
for s in ds.ReferencedSeriesSequence:
    for i in s.ReferencedImageSequence:
        refs.append([s.SeriesInstanceUID, i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID, frames_of(i)])
assert refs == exp["refs"], refs
areas = [[list(a.DisplayedAreaTopLeftHandCorner), list(a.DisplayedAreaBottomRightHandCorner), a.PresentationSizeMode,
          sorted(i.ReferencedSOPInstanceUID for i in a.get("ReferencedImageSequence", []))] for a in ds.DisplayedAreaSelectionSequence]
assert areas == exp["areas"], areas
items = ds.GraphicAnnotationSequence
assert len(items) == len(exp["annotations"]), len(items)
raw = open(exp["path"], "rb").read()
for item, e in zip(items, exp["annotations"]):
    assert item.GraphicLayer == "MEASUREMENTS"
    if e["named"]:
        r = item.ReferencedImageSequence
        assert len(r) == 1 and r[0].ReferencedSOPInstanceUID == e["sop_uid"], r
        f = frames_of(r[0])
        assert f == (None if e["frame"] is None else [e["frame"]]), (f, e["frame"])
    else:
        assert "ReferencedImageSequence" not in item
    g = item.GraphicObjectSequence
    assert len(g) == 1
    g = g[0]
    assert g.GraphicAnnotationUnits == "PIXEL" and g.GraphicDimensions == 2
    assert g.GraphicType == e["type"], g.GraphicType
    data = [float(v) for v in g.GraphicData]
    assert data == e["data"], (data, e["data"])
    assert g.NumberOfGraphicPoints == len(e["data"]) // 2
    closed = g.GraphicType == "POLYLINE" and data[:2] == data[-2:]
    assert ("GraphicFilled" in g) == closed and (not closed or g.GraphicFilled == "N")
    t = item.TextObjectSequence
    assert len(t) == 1
    t = t[0]
    assert t.UnformattedTextValue == e["text"], t.UnformattedTextValue
    assert e["text"].encode("utf-8") in raw, "the text is not byte-exact UTF-8 in the file"
    assert t.AnchorPointAnnotationUnits == "PIXEL" and t.AnchorPointVisibility == "N"
    anchor = [float(v) for v in t.AnchorPoint]
    assert any(anchor == data[i:i + 2] for i in range(0, len(data), 2)), "the text is anchored on its graphic"
print("pydicom gsps ok")
"#;

/// pydicom reads the GSPS: the images it applies to, the displayed areas
/// (`(columns, rows, [instances named])`) and the annotations, as expected.
fn pydicom_gsps(
    input: &ReportInput,
    uids: &ReportUids,
    path: &Path,
    refs: &[(&ImageRef, Option<&[u32]>)],
    areas: &[(u16, u16, Vec<&str>)],
    drawn: &[Drawn<'_>],
) {
    let s = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
    let points = |d: &[(f64, f64)]| d.iter().map(|(x, y)| format!("{x:?},{y:?}")).collect::<Vec<_>>().join(",");
    let refs: Vec<String> = refs
        .iter()
        .map(|(img, frames)| {
            let frames = frames.map_or("null".to_string(), |f| format!("{f:?}"));
            format!("[{},{},{},{frames}]", s(&img.series_instance_uid), s(&img.sop_class_uid), s(&img.sop_instance_uid))
        })
        .collect();
    let areas: Vec<String> = areas
        .iter()
        .map(|(c, r, named)| {
            let mut named = named.clone();
            named.sort();
            format!("[[1,1],[{c},{r}],\"SCALE TO FIT\",[{}]]", named.iter().map(|n| s(n)).collect::<Vec<_>>().join(","))
        })
        .collect();
    let annotations: Vec<String> = drawn
        .iter()
        .map(|d| {
            format!(
                "{{\"sop_uid\":{},\"frame\":{},\"named\":{},\"type\":{},\"data\":[{}],\"text\":{}}}",
                s(&d.image.sop_instance_uid),
                d.frame.map_or("null".into(), |f| f.to_string()),
                d.named,
                s(d.graphic_type),
                points(&d.data),
                s(d.text)
            )
        })
        .collect();
    let creator = input.verifier.as_ref().unwrap_or(&input.author);
    let json = format!(
        "{{\"path\":{},\"patient_name\":{},\"study_uid\":{},\"series_uid\":{},\"sop_uid\":{},\"creator\":{},\"date\":{},\"time\":{},\
         \"refs\":[{}],\"areas\":[{}],\"annotations\":[{}]}}",
        s(path.to_str().unwrap()),
        s(&input.study.patient_name),
        s(&input.study.study_instance_uid),
        s(&uids.gsps_series_instance_uid),
        s(&uids.gsps_sop_instance_uid),
        s(&creator.name),
        s(&input.signed_at.date),
        s(&input.signed_at.time),
        refs.join(","),
        areas.join(","),
        annotations.join(",")
    );
    let exp = path.with_file_name("expected-gsps.json");
    std::fs::write(&exp, json).unwrap();
    let (ok, out) = run("python3", &["-c", PYDICOM_GSPS, exp.to_str().unwrap()]);
    assert!(ok && out.contains("pydicom gsps ok"), "pydicom gsps check failed:\n{out}");
}

const PYDICOM_CHECK: &str = r#"
import json, sys
import pydicom
from pydicom.uid import ExplicitVRLittleEndian

exp = json.load(open(sys.argv[1], encoding="utf-8"))
sr = pydicom.dcmread(exp["sr"])
pdf = pydicom.dcmread(exp["pdf_dicom"])
objs = [sr, pdf]
kos = None
if exp["kos"]:
    kos = pydicom.dcmread(exp["kos"])
    objs.append(kos)

for ds in objs:
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian, ds.file_meta.TransferSyntaxUID
    assert ds.file_meta.ImplementationClassUID == "2.25.238945392867137405126870425318434815317"
    assert ds.SpecificCharacterSet == "ISO_IR 192", ds.SpecificCharacterSet
    assert str(ds.PatientName) == exp["patient_name"], str(ds.PatientName)
    assert ds.PatientID == exp["patient_id"]
    assert ds.StudyInstanceUID == exp["study_uid"]
    assert ds.AccessionNumber == exp["accession"]
    assert ds.InstitutionName == exp["reading_institution"]
    assert ds.Manufacturer == "Yunying"
    assert ds.InstanceNumber == 1
    assert ds.ContentDate == exp["date"] and ds.ContentTime == exp["time"]
    assert ds.TimezoneOffsetFromUTC == exp["tz"]
assert len({sr.SeriesInstanceUID, pdf.SeriesInstanceUID} | ({kos.SeriesInstanceUID} if kos else set())) == len(objs)

def code(item, seq="ConceptNameCodeSequence"):
    c = getattr(item, seq)[0]
    return (c.CodeValue, c.CodingSchemeDesignator)

def children(item):
    return list(getattr(item, "ContentSequence", []))

def section(ds, value):
    found = [c for c in children(ds) if c.ValueType == "CONTAINER" and code(c)[0] == value]
    assert len(found) == 1, value
    return found[0]

# The SR.
assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.22" and sr.Modality == "SR"
assert code(sr) == ("18748-4", "LN")
assert sr.ContentTemplateSequence[0].TemplateIdentifier == "2000"
assert sr.CompletionFlag == "COMPLETE" and sr.VerificationFlag == "VERIFIED" and sr.PreliminaryFlag == "FINAL"
assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == exp["verifier_name"]
assert sr.VerifyingObserverSequence[0].VerifyingOrganization == exp["reading_institution"]
findings = section(sr, "59776-5")
texts = [c for c in children(findings) if c.ValueType == "TEXT"]
assert len(texts) == 1 and code(texts[0]) == ("121071", "DCM")
assert texts[0].TextValue == exp["findings"], repr(texts[0].TextValue)
raw = open(exp["sr"], "rb").read()
assert exp["findings"].encode("utf-8") in raw, "findings not byte-exact UTF-8 in the file"
nums = [c for c in children(findings) if c.ValueType == "NUM"]
got = []
for n in nums:
    mv = n.MeasuredValueSequence[0]
    unit = mv.MeasurementUnitsCodeSequence[0]
    assert unit.CodingSchemeDesignator == "UCUM"
    label = [c.TextValue for c in children(n) if c.ValueType == "TEXT" and code(c) == ("121050", "DCM")]
    got.append([label[0], float(mv.NumericValue), unit.CodeValue])
assert got == exp["measurements"], got
impression = section(sr, "19005-8")
assert children(impression)[0].TextValue == exp["impression"]
if exp["critical"]:
    crit = section(sr, "73568-8")
    assert any(c.ValueType == "CODE" and code(c, "ConceptCodeSequence") == ("RID49480", "RADLEX") for c in children(crit))
else:
    assert not [c for c in children(sr) if c.ValueType == "CONTAINER" and code(c)[0] == "73568-8"]
evidence = set()
for study in sr.get("CurrentRequestedProcedureEvidenceSequence", []):
    assert study.StudyInstanceUID == exp["study_uid"]
    for series in study.ReferencedSeriesSequence:
        for sop in series.ReferencedSOPSequence:
            evidence.add((series.SeriesInstanceUID, sop.ReferencedSOPInstanceUID))
assert evidence == {tuple(x) for x in exp["evidence"]}, evidence
if exp["predecessor"]:
    p = sr.PredecessorDocumentsSequence[0]
    assert p.StudyInstanceUID == exp["study_uid"]
    assert p.ReferencedSeriesSequence[0].SeriesInstanceUID == exp["predecessor"][0]
    assert p.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == exp["predecessor"][1]
else:
    assert "PredecessorDocumentsSequence" not in sr
record = section(sr, "REPORTREC")
signed = [c.TextValue for c in children(record) if code(c)[0] == "SIGNEDCONTENT"]
assert signed == [exp["signed_content"]]

# The KOS.
if kos is not None:
    assert kos.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.59" and kos.Modality == "KO"
    assert code(kos) == ("113000", "DCM")
    refs = []
    for c in children(kos):
        if c.ValueType == "IMAGE":
            r = c.ReferencedSOPSequence[0]
            refs.append([r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID, int(r.ReferencedFrameNumber) if "ReferencedFrameNumber" in r else None])
    assert refs == exp["key_images"], refs

# The encapsulated PDF.
assert pdf.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1" and pdf.Modality == "DOC"
assert pdf.MIMETypeOfEncapsulatedDocument == "application/pdf"
assert pdf.BurnedInAnnotation == "YES"
assert code(pdf) == ("18748-4", "LN")
doc = pdf.EncapsulatedDocument
assert len(doc) % 2 == 0
assert doc[: pdf.EncapsulatedDocumentLength] == open(exp["pdf"], "rb").read()
assert pdf.SourceInstanceSequence[0].ReferencedSOPInstanceUID == sr.SOPInstanceUID
print("pydicom ok")
"#;

fn pydicom_check(input: &ReportInput, files: &Files) {
    let s = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"));
    let mut evidence: Vec<String> = Vec::new();
    for img in input.measurements.iter().filter_map(|m| m.image.as_ref()).chain(&input.key_images) {
        let e = format!("[{},{}]", s(&img.series_instance_uid), s(&img.sop_instance_uid));
        if !evidence.contains(&e) {
            evidence.push(e);
        }
    }
    let measurements: Vec<String> = input.measurements.iter().map(|m| format!("[{},{:?},{}]", s(&m.label), m.value, s(&m.unit))).collect();
    let key_images: Vec<String> = input
        .key_images
        .iter()
        .map(|k| format!("[{},{},{}]", s(&k.sop_class_uid), s(&k.sop_instance_uid), k.frame.map_or("null".into(), |f| f.to_string())))
        .collect();
    let signer = input.verifier.as_ref().unwrap_or(&input.author);
    let json = format!(
        "{{\"sr\":{},\"kos\":{},\"pdf_dicom\":{},\"pdf\":{},\"patient_name\":{},\"patient_id\":{},\"study_uid\":{},\"accession\":{},\
         \"reading_institution\":{},\"date\":{},\"time\":{},\"tz\":{},\"verifier_name\":{},\"findings\":{},\"impression\":{},\
         \"critical\":{},\"measurements\":[{}],\"key_images\":[{}],\"evidence\":[{}],\"predecessor\":{},\"signed_content\":{}}}",
        s(files.sr.to_str().unwrap()),
        files.kos.as_ref().map_or("null".into(), |k| s(k.to_str().unwrap())),
        s(files.pdf_dicom.to_str().unwrap()),
        s(files.pdf.to_str().unwrap()),
        s(&input.study.patient_name),
        s(&input.study.patient_id),
        s(&input.study.study_instance_uid),
        s(&input.study.accession_number),
        s(&input.reading_institution),
        s(&input.signed_at.date),
        s(&input.signed_at.time),
        s(&input.signed_at.tz_offset),
        s(&signer.name),
        s(&input.findings),
        s(&input.impression),
        input.critical,
        measurements.join(","),
        key_images.join(","),
        evidence.join(","),
        input.predecessor.as_ref().map_or("null".into(), |p| format!("[{},{}]", s(&p.series_instance_uid), s(&p.sop_instance_uid))),
        s(&String::from_utf8(content_for_signature(input)).unwrap()),
    );
    let exp = files.sr.with_file_name("expected.json");
    std::fs::write(&exp, json).unwrap();
    let (ok, out) = run("python3", &["-c", PYDICOM_CHECK, exp.to_str().unwrap()]);
    assert!(ok && out.contains("pydicom ok"), "pydicom check failed:\n{out}");
}

fn tools() -> bool {
    ensure_tool("dciodvfy", "dicom3tools")
        && ["dsrdump", "dcmdump", "dcmp2pgm", "dcmpsprt"].iter().all(|t| ensure_tool(t, "dcmtk"))
        && ensure_tool("pdftotext", "poppler-utils")
        && {
            let (ok, out) = run("python3", &["-c", "import pydicom"]);
            if !ok {
                eprintln!("SKIPPED: pydicom is not importable: {out}");
            }
            ok
        }
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn pdftotext(pdf: &Path, page: Option<usize>) -> String {
    let mut args = vec!["-enc".to_string(), "UTF-8".into()];
    if let Some(n) = page {
        args.extend(["-f".into(), n.to_string(), "-l".into(), n.to_string()]);
    }
    args.extend([pdf.to_str().unwrap().to_string(), "-".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = run("pdftotext", &args);
    assert!(ok, "pdftotext: {out}");
    out
}

#[test]
fn a_signed_critical_report_validates_everywhere() {
    if !tools() {
        return;
    }
    let input = sample();
    let built = build(&input, &uids(1), fonts()).unwrap();
    let files = write(&built);

    // DCMTK reads both SR documents, with the findings and the measurements.
    let sr = dsrdump(&files.sr);
    assert!(sr.contains("Enhanced SR Document"), "{sr}");
    assert!(sr.contains(&input.findings.replace('\n', "\\n")), "findings not in dsrdump:\n{sr}");
    assert!(sr.contains(&input.impression.replace('\n', "\\n")), "impression not in dsrdump:\n{sr}");
    assert!(sr.contains(r#""12.5" (mm,UCUM,"millimeter")"#), "{sr}");
    assert!(sr.contains(r#""-612" ([hnsf'U],UCUM,"Hounsfield unit")"#), "{sr}");
    assert!(sr.contains("结节长径") && sr.contains("(RID49480,RADLEX,\"ACR Category 1 Actionable Finding\")"), "{sr}");
    let kos = dsrdump(files.kos.as_ref().unwrap());
    assert!(kos.contains("Key Object Selection Document") && kos.contains("(113000,DCM,\"Of Interest\")"), "{kos}");
    assert!(kos.contains(SERIES_A) && kos.contains(&format!("{SERIES_B}.7\",3")), "{kos}");

    // The presentation state of the length and the region: dciodvfy,
    // DCMTK (dump, apply to images of the right size, print) and pydicom.
    let gsps = files.gsps.as_ref().expect("measurements with points: a GSPS");
    dciodvfy(gsps);
    let dump = dcmdump(gsps);
    assert!(dump.contains(r"(0070,0022) FL 200.5\180.25\218.75\190.5 "), "{dump}");
    assert!(dump.contains(r"(0070,0022) FL 300\300\320.5\300\320.5\318.25\300\318.25\300\300 "), "{dump}");
    assert!(dump.contains("[结节长径 12.5 mm]") && dump.contains("[结节CT值 -612 HU]"), "{dump}");
    let dir = files.sr.parent().unwrap();
    let images: Vec<PathBuf> = input.measurements.iter().map(|m| make_image(dir, m.image.as_ref().unwrap(), 1)).collect();
    let length = dcmp2pgm(gsps, &images[0], None);
    assert!(length.contains("Number of graphic objects: 1") && length.contains("text 1: \"结节长径 12.5 mm\""), "{length}");
    assert!(length.contains(r"coordinates: 200.5\180.25, 218.75\190.5, "), "{length}");
    let roi = dcmp2pgm(gsps, &images[1], None);
    assert!(roi.contains("Number of graphic objects: 1") && roi.contains("text 1: \"结节CT值 -612 HU\""), "{roi}");
    assert!(
        roi.contains("points=5 type=polyline filled=no")
            && roi.contains(r"coordinates: 300\300, 320.5\300, 320.5\318.25, 300\318.25, 300\300, "),
        "{roi}"
    );
    dcmpsprt(gsps, &images);
    let (length_image, roi_image) = (input.measurements[0].image.as_ref().unwrap(), input.measurements[1].image.as_ref().unwrap());
    let mut closed = ROI_POINTS.to_vec();
    closed.push(ROI_POINTS[0]);
    pydicom_gsps(
        &input,
        &uids(1),
        gsps,
        &[(length_image, None), (roi_image, None)],
        &[(512, 512, vec![])],
        &[
            Drawn {
                image: length_image,
                frame: None,
                named: true,
                graphic_type: "POLYLINE",
                data: LENGTH_POINTS.to_vec(),
                text: "结节长径 12.5 mm",
            },
            Drawn { image: roi_image, frame: None, named: true, graphic_type: "POLYLINE", data: closed, text: "结节CT值 -612 HU" },
        ],
    );

    dciodvfy(&files.sr);
    dciodvfy(files.kos.as_ref().unwrap());
    dciodvfy(&files.pdf_dicom);
    pydicom_check(&input, &files);

    // The PDF's text comes back out, Chinese included.
    let text = pdftotext(&files.pdf, None);
    assert!(text.contains("张三"), "{text}");
    assert!(text.contains("危急值"), "{text}");
    assert!(text.contains("右肺上叶尖段见一磨玻璃结节"), "{text}");
    assert!(text.contains("左肺下叶少许纤维灶"), "{text}");
    assert!(text.contains("XX市影像诊断中心") && text.contains("影像诊断报告"), "{text}");
    // pdftotext drops the spaces between CJK characters.
    assert!(squash(&text).contains("第1页共1页"), "{text}");
    assert!(text.contains("SM2-SM3") && text.contains(&input.signature.as_ref().unwrap().content_digest_hex), "{text}");
    assert_eq!(built.pdf_pages, 1);
}

#[test]
fn equal_inputs_give_equal_bytes() {
    let a = build(&sample(), &uids(1), fonts()).unwrap();
    let b = build(&sample(), &uids(1), fonts()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn an_amendment_names_its_predecessor() {
    if !tools() {
        return;
    }
    let mut input = sample();
    input.version = 2;
    input.predecessor =
        Some(Predecessor { sop_instance_uid: uids(1).sr_sop_instance_uid, series_instance_uid: uids(1).series_instance_uid });
    input.amend_reason = "补充左肺下叶描述".into();
    input.critical = false;
    input.verifier = None;
    input.key_images.clear();
    let built = build(&input, &uids(2), fonts()).unwrap();
    assert!(built.kos.is_none(), "no key images, no KOS");
    let files = write(&built);
    dciodvfy(&files.sr);
    dciodvfy(&files.pdf_dicom);
    let gsps = files.gsps.as_ref().expect("the measurements keep their points");
    dciodvfy(gsps);
    let pr = dicom_object::open_file(gsps).unwrap();
    assert_eq!(pr.element(tags::CONTENT_DESCRIPTION).unwrap().to_str().unwrap(), "影像诊断报告测量 第2版");
    assert_eq!(pr.element(tags::CONTENT_CREATOR_NAME).unwrap().to_str().unwrap(), "李医生");
    assert_eq!(pr.element(tags::SERIES_NUMBER).unwrap().to_int::<i32>().unwrap(), uids(2).gsps_series_number);
    pydicom_check(&input, &files);

    let sr = dicom_object::open_file(&files.sr).unwrap();
    let pred = sr.element(tags::PREDECESSOR_DOCUMENTS_SEQUENCE).unwrap().items().unwrap();
    assert_eq!(pred.len(), 1);
    let series = pred[0].element(tags::REFERENCED_SERIES_SEQUENCE).unwrap().items().unwrap();
    assert_eq!(series[0].element(tags::SERIES_INSTANCE_UID).unwrap().to_str().unwrap(), uids(1).series_instance_uid);
    let sop = &series[0].element(tags::REFERENCED_SOP_SEQUENCE).unwrap().items().unwrap()[0];
    assert_eq!(sop.element(tags::REFERENCED_SOP_INSTANCE_UID).unwrap().to_str().unwrap(), uids(1).sr_sop_instance_uid);
    assert_eq!(sop.element(tags::REFERENCED_SOP_CLASS_UID).unwrap().to_str().unwrap(), ENHANCED_SR_SOP_CLASS_UID);
    // The author signed alone: the author is the verifying observer.
    let v = &sr.element(tags::VERIFYING_OBSERVER_SEQUENCE).unwrap().items().unwrap()[0];
    assert_eq!(v.element(tags::VERIFYING_OBSERVER_NAME).unwrap().to_str().unwrap(), "李医生");
    assert_eq!(sr.element(tags::SERIES_DESCRIPTION).unwrap().to_str().unwrap(), "影像诊断报告 第2版");

    let dump = dsrdump(&files.sr);
    assert!(dump.contains("补充左肺下叶描述") && !dump.contains("Communication of Critical Results"), "{dump}");
    let text = pdftotext(&files.pdf, None);
    assert!(text.contains("第2版") && text.contains("补充左肺下叶描述") && !text.contains("危急值"), "{text}");
}

#[test]
fn long_findings_flow_over_three_pages() {
    if !tools() {
        return;
    }
    let mut input = sample();
    // About 3,300 characters: paragraphs of Chinese, a long Latin word, and
    // a paragraph of Latin words.
    let mut findings = String::new();
    for i in 1..=40 {
        findings.push_str(&format!(
            "{i}. 右肺上叶尖段见一磨玻璃结节，大小约12.5mm×9.8mm，边界清楚，内见空泡征，邻近胸膜牵拉。随访对比前片无明显变化。\n"
        ));
    }
    findings.push_str(&"Pneumonoultramicroscopicsilicovolcanoconiosis".repeat(6));
    findings.push('\n');
    findings.push_str(&"The quick brown fox jumps over the lazy dog. ".repeat(12));
    findings.push_str("\n末段。");
    input.findings = findings;
    let built = build(&input, &uids(1), fonts()).unwrap();
    assert_eq!(built.pdf_pages, 3, "pages");
    let files = write(&built);
    dciodvfy(&files.pdf_dicom);
    let (ok, info) = run("pdfinfo", &[files.pdf.to_str().unwrap()]);
    assert!(ok && info.lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 3")), "{info}");
    for n in 1..=3 {
        let page = pdftotext(&files.pdf, Some(n));
        assert!(squash(&page).contains(&format!("第{n}页共3页")), "page {n}:\n{page}");
        if n > 1 {
            assert!(page.contains("影像诊断报告（续）"), "page {n}:\n{page}");
        }
    }
    let text = pdftotext(&files.pdf, None);
    assert!(text.contains("40. 右肺上叶尖段"), "{text}");
    assert!(text.contains("末段。"), "{text}");
    assert!(text.contains("左肺下叶少许纤维灶"), "the impression comes after the findings:\n{text}");
    // The long word is broken to fit, the sentence wrapped at spaces.
    assert!(text.contains("Pneumonoultramicroscopicsilicovolcanoconiosis"), "{text}");
    assert!(text.contains("The quick brown fox jumps over the lazy dog."), "{text}");
}

#[test]
fn the_tree_holds_no_measurement_or_evidence_it_was_not_given() {
    let mut input = sample();
    input.measurements.clear();
    input.key_images.clear();
    input.critical = false;
    input.clinical_info.clear();
    let built = build(&input, &uids(1), fonts()).unwrap();
    assert!(built.kos.is_none());
    assert!(built.gsps.is_none());
    let files = write(&built);
    let sr = dicom_object::open_file(&files.sr).unwrap();
    assert!(sr.element(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE).is_err());
    if tools() {
        dciodvfy(&files.sr);
        pydicom_check(&input, &files);
    }
}

#[test]
fn graphics_on_frames_of_one_sop_class() {
    if !tools() {
        return;
    }
    let mut input = sample();
    let frame3 = image(SERIES_B, 7, Some(3));
    let frame5 = image(SERIES_B, 7, Some(5));
    let small = ImageRef { rows: Some(256), columns: Some(384), ..image(SERIES_B, 8, Some(1)) };
    let angle = [(100.0, 100.0), (150.0, 120.5), (110.25, 170.0)];
    let m = |label: &str, value: f64, unit: &str, image: &ImageRef, points: &[(f64, f64)]| Measurement {
        label: label.into(),
        value,
        unit: unit.into(),
        image: Some(image.clone()),
        points: points.to_vec(),
    };
    input.measurements = vec![
        m("结节长径", 12.5, "mm", &frame3, &LENGTH_POINTS),
        // Three points of an angle: a path, not closed.
        m("夹角", 32.5, "deg", &frame5, &angle),
        // One point: a CT value probe, on a smaller image.
        m("CT值", 45.0, "[hnsf'U]", &small, &[(120.5, 80.25)]),
        // On a CT Image Storage image: not in this presentation state, whose images are Enhanced CT.
        m("肝脏面积", 1234.5, "mm2", &image(SERIES_A, 45, None), &ROI_POINTS),
        // No points: nothing drawn.
        m("结节短径", 6.0, "mm", &frame3, &[]),
    ];
    let built = build(&input, &uids(1), fonts()).unwrap();
    let files = write(&built);
    let gsps = files.gsps.as_ref().unwrap();
    dciodvfy(gsps);

    let dir = files.sr.parent().unwrap();
    // dcmp2pgm dumps what applies to frame 1 (it selects the frame it
    // renders after the dump): of the five-frame image, nothing, as the
    // state names frames 3 and 5; and it renders those.
    let multi = make_image(dir, &frame3, 5);
    let on1 = dcmp2pgm(gsps, &multi, None);
    assert!(on1.contains("Number of graphic objects: 0") && on1.contains("Number of text objects: 0"), "{on1}");
    for f in [3, 5] {
        let out = dcmp2pgm(gsps, &multi, Some(f));
        assert!(!out.contains("cannot select frame"), "{out}");
    }
    let small_file = make_image(dir, &small, 1);
    let probe = dcmp2pgm(gsps, &small_file, None);
    assert!(probe.contains("points=1 type=point") && probe.contains("text 1: \"CT值 45 HU\""), "{probe}");
    assert!(probe.contains(r"displayed area TLHC=1\1 BRHC=384\256"), "{probe}");
    dcmpsprt(gsps, &[multi, small_file]);

    pydicom_gsps(
        &input,
        &uids(1),
        gsps,
        &[(&frame3, Some(&[3, 5])), (&small, Some(&[1]))],
        &[(512, 512, vec![frame3.sop_instance_uid.as_str()]), (384, 256, vec![small.sop_instance_uid.as_str()])],
        &[
            Drawn {
                image: &frame3,
                frame: Some(3),
                named: true,
                graphic_type: "POLYLINE",
                data: LENGTH_POINTS.to_vec(),
                text: "结节长径 12.5 mm",
            },
            Drawn { image: &frame5, frame: Some(5), named: true, graphic_type: "POLYLINE", data: angle.to_vec(), text: "夹角 32.5 deg" },
            Drawn { image: &small, frame: Some(1), named: true, graphic_type: "POINT", data: vec![(120.5, 80.25)], text: "CT值 45 HU" },
        ],
    );

    // One image, as referenced, is all the presentation state applies to:
    // the annotation and the displayed area do not name it.
    input.measurements = vec![input.measurements[2].clone()];
    let built = build(&input, &uids(1), fonts()).unwrap();
    let files = write(&built);
    let gsps = files.gsps.as_ref().unwrap();
    dciodvfy(gsps);
    pydicom_gsps(
        &input,
        &uids(1),
        gsps,
        &[(&small, Some(&[1]))],
        &[(384, 256, vec![])],
        &[Drawn { image: &small, frame: Some(1), named: false, graphic_type: "POINT", data: vec![(120.5, 80.25)], text: "CT值 45 HU" }],
    );
    let probe = dcmp2pgm(gsps, &make_image(files.sr.parent().unwrap(), &small, 1), None);
    assert!(probe.contains("points=1 type=point") && probe.contains("text 1: \"CT值 45 HU\""), "{probe}");
}

#[test]
fn a_truetype_font_draws_the_same_report() {
    let wqy = Path::new("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc");
    if !wqy.exists() {
        eprintln!("SKIPPED: fonts-wqy-microhei is not installed");
        return;
    }
    if !ensure_tool("pdftotext", "poppler-utils") {
        return;
    }
    let fonts = Fonts::load(wqy).unwrap();
    assert_eq!(fonts.family(), "WenQuanYi Micro Hei");
    let built = build(&sample(), &uids(1), &fonts).unwrap();
    let files = write(&built);
    let text = pdftotext(&files.pdf, None);
    assert!(text.contains("张三") && text.contains("危急值") && text.contains("右肺上叶尖段见一磨玻璃结节"), "{text}");
}
