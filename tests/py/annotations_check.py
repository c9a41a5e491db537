"""Read a TID 1500 SR and its presentation state as other software would:
pydicom reads both, highdicom reads the SR's planar ROI measurement groups.
Prints JSON: per group its tracking UID, graphic type, referenced SOP
Instance UID and measurements (concept code, value, unit code); and the
presentation state's content label and windows; and, given, the Key Object
Selection document's title, template, description and the images it
references (its content items and its evidence).

usage: annotations_check.py SR.dcm GSPS.dcm [KOS.dcm]
"""

import json
import sys

import highdicom as hd
import pydicom


def main() -> None:
    sr_ds = pydicom.dcmread(sys.argv[1])
    ps = pydicom.dcmread(sys.argv[2])
    sr = hd.sr.srread(sys.argv[1])
    assert isinstance(sr, hd.sr.ComprehensiveSR), type(sr)
    report = sr.content
    assert isinstance(report, hd.sr.MeasurementReport), type(report)
    groups = []
    for g in report.get_planar_roi_measurement_groups():
        region = g.roi
        source = region.ContentSequence[0].ReferencedSOPSequence[0]
        groups.append(
            {
                "tracking_uid": str(g.tracking_uid) if g.tracking_uid else None,
                "tracking_identifier": g.tracking_identifier,
                "graphic_type": region.GraphicType,
                "sop_instance_uid": source.ReferencedSOPInstanceUID,
                "measurements": [
                    {"code": m.name.value, "scheme": m.name.scheme_designator, "value": float(m.value), "unit": m.unit.value}
                    for m in g.get_measurements()
                ],
            }
        )
    voi = [
        {
            "sop_instance_uid": item.ReferencedImageSequence[0].ReferencedSOPInstanceUID,
            "center": float(item.WindowCenter),
            "width": float(item.WindowWidth),
        }
        for item in ps.get("SoftcopyVOILUTSequence", [])
    ]
    kos = None
    if len(sys.argv) > 3:
        k = pydicom.dcmread(sys.argv[3])
        title = k.ConceptNameCodeSequence[0]
        items = k.ContentSequence
        kos = {
            "class": k.SOPClassUID,
            "modality": k.Modality,
            "title": [title.CodeValue, title.CodingSchemeDesignator, title.CodeMeaning],
            "template": k.ContentTemplateSequence[0].TemplateIdentifier,
            "study": k.StudyInstanceUID,
            "description": [i.TextValue for i in items if i.ValueType == "TEXT"],
            "images": [i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in items if i.ValueType == "IMAGE"],
            "evidence": [
                sop.ReferencedSOPInstanceUID
                for study in k.CurrentRequestedProcedureEvidenceSequence
                for series in study.ReferencedSeriesSequence
                for sop in series.ReferencedSOPSequence
            ],
        }
    print(
        json.dumps(
            {
                "sr_class": sr_ds.SOPClassUID,
                "sr_template": sr_ds.ContentTemplateSequence[0].TemplateIdentifier,
                "study": sr_ds.StudyInstanceUID,
                "groups": groups,
                "ps_class": ps.SOPClassUID,
                "ps_label": ps.ContentLabel,
                "ps_graphics": sum(len(a.get("GraphicObjectSequence", [])) for a in ps.GraphicAnnotationSequence),
                "ps_texts": [t.UnformattedTextValue for a in ps.GraphicAnnotationSequence for t in a.get("TextObjectSequence", [])],
                "voi": voi,
                "kos": kos,
            }
        )
    )


if __name__ == "__main__":
    main()
