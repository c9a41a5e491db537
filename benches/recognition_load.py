"""The regional data set of benches/recognition.py: its catalogue, quality
marks and the SQL that bulk-loads PostgreSQL with server-side
generate_series (nothing row by row from Python).

Deterministic: every row follows from its number. Shapes:

- EMPI: `persons` persons; each has an identity at its home institution,
  one in four a second at another institution, one in twelve a third
  (the (issuer, Patient ID) of each identity is a patient of the archive).
- Archive: `instances` instances, 6 per study (2 series of 3); every
  patient has at least one study, the rest fall on patients at random;
  study dates spread over the two years before `today`; the study's exam
  type (modality, body part, description in Chinese) picks its catalogue
  item. The first instance of each study carries deflated DICOM JSON
  metadata with its Procedure Code Sequence (what classification reads).
- Recognition: `recognition_study_items` as the classifier would record
  them (item of the exam type, HR from the marks on the study date), and
  a year of orders with candidates and decisions (most decided, some
  amended, reasons spread) for the statistics.
"""

from __future__ import annotations

import datetime
import json
import zlib

REGION = "330100"
# (modality, body part, Study Description, item code or None); a study's
# type is one of 20 slots, so the common exams come up more often.
EXAMS = [
    ("CT", "CHEST", "CT 胸部平扫", "CT-CHEST"),
    ("CT", "HEAD", "CT 头颅平扫", "CT-HEAD"),
    ("CT", "ABDOMEN", "CT 腹部平扫", "CT-ABD"),
    ("MR", "HEAD", "MR 头颅平扫", "MR-HEAD"),
    ("MR", "LSPINE", "MR 腰椎平扫", "MR-LSPINE"),
    ("MR", "KNEE", "MR 膝关节平扫", "MR-KNEE"),
    ("DX", "CHEST", "DR 胸部正位", "DX-CHEST"),
    ("US", "ABDOMEN", "US 腹部超声", "US-ABD"),
    ("MG", "BREAST", "MG 乳腺钼靶", "MG-BREAST"),
    ("PT", "WHOLEBODY", "PET/CT 全身显像", None),
]
SLOTS = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 6, 6, 7, 7, 8, 9]
# item code -> (name, modality in the catalogue, keywords, window days, price fen)
ITEMS = {
    "CT-CHEST": ("胸部CT平扫", "CT", ["胸部", "chest"], 180, 30000),
    "CT-HEAD": ("头颅CT平扫", "CT", ["头颅", "head"], 180, 25000),
    "CT-ABD": ("腹部CT平扫", "CT", ["腹部", "abdomen"], 180, 35000),
    "MR-HEAD": ("头颅MR平扫", "MR", ["头颅"], 365, 60000),
    "MR-LSPINE": ("腰椎MR平扫", "MR", ["腰椎"], 365, 60000),
    "MR-KNEE": ("膝关节MR平扫", "MR", ["膝关节"], 365, 55000),
    "DX-CHEST": ("胸部DR正位", "CR/DX", ["胸部"], 90, 8000),
    "US-ABD": ("腹部超声", "US", ["腹部"], 30, 12000),
    "MG-BREAST": ("乳腺钼靶", "MG", ["乳腺"], 365, 20000),
}
ITEM_CODES = list(ITEMS)
BODY_PART_OF = {e[3]: e[1] for e in EXAMS if e[3]}
SOP_CLASS = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4", "DX": "1.2.840.10008.5.1.4.1.1.1.1",
             "US": "1.2.840.10008.5.1.4.1.1.6.1", "MG": "1.2.840.10008.5.1.4.1.1.1.2", "PT": "1.2.840.10008.5.1.4.1.1.128"}
DEPARTMENTS = ["呼吸内科", "神经内科", "骨科", "消化内科", "急诊科", "普外科", "乳腺外科", "体检中心"]
REASONS = ["1", "2", "3", "4", "5", "6", "patient-request", "quality-doubt", "result-too-old"]
UID_ROOT = "1.2.826.0.1.3680043.10.543."


def institutions(n: int) -> list[str]:
    return [f"HOSP{i:02d}" for i in range(1, n + 1)]


def marks(n_inst: int) -> list[dict]:
    """HR marks: institutions 1-14 passed quality control for two items in
    three (half of them since 2024, half since September 2025), 15-16 failed
    some (kept as records, no mark); scope the city or the province."""
    out = []
    for i, inst in enumerate(institutions(n_inst), start=1):
        for j, item in enumerate(ITEM_CODES):
            if i <= 14 and (i + j) % 3 != 0:
                since = "2024-01-01" if (i * 7 + j) % 2 == 0 else "2025-09-01"
                out.append({"institution": inst, "item": item, "passed": True, "scope": REGION if i % 2 else "330000",
                            "valid_from": since, "valid_to": "2027-12-31"})
            elif i in (15, 16) and (i + j) % 2 == 0:
                out.append({"institution": inst, "item": item, "passed": False, "scope": REGION,
                            "valid_from": "2024-01-01", "valid_to": "2027-12-31"})
    return out


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def recognition_toml(n_inst: int) -> str:
    lines = ["[recognition]", f"region = {toml_str(REGION)}", ""]
    for code, (name, modality, keywords, window, price) in ITEMS.items():
        lines += ["[[recognition.items]]", f"code = {toml_str(code)}", f"name = {toml_str(name)}",
                  f"modality = {toml_str(modality)}", f"body_parts = [{toml_str(BODY_PART_OF[code])}]",
                  f"procedure_codes = [{{ value = {toml_str('ZJ-' + code)}, scheme = \"99ZJHR\" }}]",
                  f"keywords = [{', '.join(map(toml_str, keywords))}]", f"window_days = {window}", f"price_fen = {price}", ""]
    for m in marks(n_inst):
        lines += ["[[recognition.marks]]"] + [f"{k} = {toml_str(v) if isinstance(v, str) else str(v).lower()}"
                                              for k, v in m.items()] + [""]
    return "\n".join(lines)


def metadata_blob(exam: tuple) -> bytes:
    """Deflated DICOM JSON of a study's first instance, as ingest stores it
    (about 40 attributes; the Procedure Code Sequence classification reads)."""
    modality, part, desc, item = exam
    code = f"ZJ-{item}" if item else "ZJ-PET-WB"
    s = lambda v: {"vr": "LO", "Value": [v]}  # noqa: E731
    ds = {"00080005": {"vr": "CS", "Value": ["ISO_IR 192"]}, "00080016": {"vr": "UI", "Value": [SOP_CLASS[modality]]},
          "00080018": {"vr": "UI", "Value": [UID_ROOT + "9.1"]}, "00080020": {"vr": "DA", "Value": ["20260101"]},
          "00080030": {"vr": "TM", "Value": ["093000"]}, "00080050": {"vr": "SH", "Value": ["A00000001"]},
          "00080060": {"vr": "CS", "Value": [modality]}, "00080070": s("BENCH MEDICAL"), "00080080": s("BENCH HOSPITAL"),
          "00080090": {"vr": "PN", "Value": [{"Alphabetic": "LI^MING", "Ideographic": "李^明"}]},
          "00081030": s(desc), "0008103E": s(desc + " 序列"),
          "00081032": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": [code]}, "00080102": {"vr": "SH", "Value": ["99ZJHR"]},
                                              "00080104": s(desc)}]},
          "00100010": {"vr": "PN", "Value": [{"Alphabetic": "WANG^WEI", "Ideographic": "王^伟"}]},
          "00100020": s("M0000001"), "00100030": {"vr": "DA", "Value": ["19600101"]}, "00100040": {"vr": "CS", "Value": ["F"]},
          "00180015": {"vr": "CS", "Value": [part]}, "00180050": {"vr": "DS", "Value": [1.25]}, "00180060": {"vr": "DS", "Value": [120]},
          "00181030": s(desc), "00185100": {"vr": "CS", "Value": ["HFS"]},
          "0020000D": {"vr": "UI", "Value": [UID_ROOT + "1"]}, "0020000E": {"vr": "UI", "Value": [UID_ROOT + "1.1"]},
          "00200010": {"vr": "SH", "Value": ["1"]}, "00200011": {"vr": "IS", "Value": [1]}, "00200013": {"vr": "IS", "Value": [1]},
          "00200032": {"vr": "DS", "Value": [-250.0, -250.0, -100.5]}, "00200037": {"vr": "DS", "Value": [1, 0, 0, 0, 1, 0]},
          "00200052": {"vr": "UI", "Value": [UID_ROOT + "2"]}, "00201041": {"vr": "DS", "Value": [-100.5]},
          "00280002": {"vr": "US", "Value": [1]}, "00280004": {"vr": "CS", "Value": ["MONOCHROME2"]},
          "00280010": {"vr": "US", "Value": [512]}, "00280011": {"vr": "US", "Value": [512]},
          "00280030": {"vr": "DS", "Value": [0.976, 0.976]}, "00280100": {"vr": "US", "Value": [16]},
          "00280101": {"vr": "US", "Value": [12]}, "00280102": {"vr": "US", "Value": [11]}, "00280103": {"vr": "US", "Value": [0]},
          "00281050": {"vr": "DS", "Value": [40]}, "00281051": {"vr": "DS", "Value": [400]},
          "00281052": {"vr": "DS", "Value": [-1024]}, "00281053": {"vr": "DS", "Value": [1]},
          "7FE00010": {"vr": "OW", "BulkDataURI": "instances/1/bulkdata/7FE00010"}}
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(json.dumps(ds, ensure_ascii=False).encode()) + c.flush()


def arr(values) -> str:
    return "ARRAY[" + ",".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def sizes(persons: int, instances: int) -> dict:
    identities = persons + persons // 4 + persons // 12
    studies = max(1, -(-instances // 6))
    return {"persons": persons, "identities": identities, "patients": identities, "studies": studies,
            "series": studies * 2, "instances": studies * 6}


def load_sql(persons: int, instances: int, n_inst: int, orders: int, today: datetime.date) -> list[tuple[str, str]]:
    """(label, SQL) steps, in order."""
    z = sizes(persons, instances)
    q, s_n = z["identities"], z["studies"]
    inst = arr(institutions(n_inst))
    slot = lambda s: f"(({s} * 7919 + {s} / 13) % 20 + 1)"  # noqa: E731  (1-based slot of study s)
    mod = arr(EXAMS[i][0] for i in SLOTS)
    part = arr(EXAMS[i][1] for i in SLOTS)
    desc = arr(EXAMS[i][2] for i in SLOTS)
    sop = arr(SOP_CLASS[EXAMS[i][0]] for i in SLOTS)
    today_sql = f"date '{today.isoformat()}'"
    epoch_ms = lambda d: f"(extract(epoch from {d})::bigint * 1000)"  # noqa: E731
    blobs = [metadata_blob(EXAMS[i]) for i in SLOTS]
    blob_arr = "ARRAY[" + ",".join(f"decode('{b.hex()}','hex')" for b in blobs) + "]::bytea[]"
    steps: list[tuple[str, str]] = []
    steps.append(("EMPI persons and identities", f"""
INSERT INTO empi_persons (id, created_ms) OVERRIDING SYSTEM VALUE
SELECT g, {epoch_ms(today_sql)} - 86400000::bigint * 900 + g FROM generate_series(1::bigint, {persons}) g;
INSERT INTO empi_identities (id, issuer, patient_id, person_pk, name, birth_date, sex, ids_masked, phone_digest, address,
                             source, decision, updated_ms) OVERRIDING SYSTEM VALUE
SELECT row_number() OVER (ORDER BY g, k), ({inst})[1 + (g + k * st) % {n_inst}], 'M' || (g * 3 + k), g,
       'wang wei' || g, to_char(date '1940-01-01' + (g * 7919 % 29000)::int, 'YYYYMMDD'), CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END,
       '1101**********' || lpad((g % 10000)::text, 4, '0'), md5('phone' || g) || md5('p' || g), '',
       CASE WHEN k = 0 THEN 'dicom' ELSE 'hl7' END, CASE WHEN k = 0 THEN 'new' ELSE 'auto' END, 0
FROM generate_series(1::bigint, {persons}) g,
     LATERAL (SELECT (ARRAY[1,3,7,9,11,13,17,19])[1 + (g / {n_inst}) % 8] AS st) x,
     LATERAL generate_series(0, (g % 4 = 0)::int + (g % 12 = 0)::int) k;
INSERT INTO empi_identity_digests (identity_pk, kind, digest)
SELECT id, 'national_id', md5('nid' || person_pk) || md5('n' || person_pk) FROM empi_identities;
INSERT INTO empi_history (op, at_ms, action, identity_pk, from_person, to_person, actor, detail)
SELECT 'op_' || md5(id::text), updated_ms, 'link', id, NULL, person_pk, 'empi', decision FROM empi_identities;
SELECT setval(pg_get_serial_sequence('empi_persons', 'id'), {persons});
SELECT setval(pg_get_serial_sequence('empi_identities', 'id'), {q});
"""))
    steps.append(("patients", f"""
INSERT INTO patients (id, issuer, patient_id, patient_name, patient_birth_date, patient_sex,
                      name_alphabetic, name_ideographic, name_phonetic, name_words) OVERRIDING SYSTEM VALUE
SELECT id, issuer, patient_id, 'WANG^WEI' || person_pk || '=王^伟', birth_date, sex, 'wang^wei' || person_pk, '王^伟', '',
       ' wang wei' || person_pk || ' 王 伟 wang wei '
FROM empi_identities;
SELECT setval(pg_get_serial_sequence('patients', 'id'), {q});
"""))
    steps.append(("studies", f"""
INSERT INTO studies (id, patient_pk, study_instance_uid, study_date, study_time, accession_number, study_id,
                     study_description, referring_physician_name, institution_name, issuer, num_series, num_instances,
                     modalities_in_study, updated_at_ms) OVERRIDING SYSTEM VALUE
SELECT s, p.id, '{UID_ROOT}' || s, to_char({today_sql} - ((s * 104729) % 730)::int, 'YYYYMMDD'), '093000',
       'A' || lpad(s::text, 9, '0'), s::text, ({desc})[{slot('s')}], '', 'Hospital ' || p.issuer, p.issuer, 2, 6,
       ({mod})[{slot('s')}], 0
FROM generate_series(1::bigint, {s_n}) s
JOIN patients p ON p.id = CASE WHEN s <= {q} THEN s ELSE 1 + (s * 2654435761) % {q} END;
SELECT setval(pg_get_serial_sequence('studies', 'id'), {s_n});
"""))
    steps.append(("series", f"""
INSERT INTO series (id, study_pk, series_instance_uid, modality, series_number, series_description, body_part_examined,
                    series_date, series_time, num_instances) OVERRIDING SYSTEM VALUE
SELECT g, (g + 1) / 2, '{UID_ROOT}' || ((g + 1) / 2) || '.' || (2 - g % 2), ({mod})[{slot('((g + 1) / 2)')}], 2 - g % 2,
       'SERIES', ({part})[{slot('((g + 1) / 2)')}], '', '', 3
FROM generate_series(1::bigint, {2 * s_n}) g;
SELECT setval(pg_get_serial_sequence('series', 'id'), {2 * s_n});
"""))
    steps.append(("instances", f"""
INSERT INTO instances (id, series_pk, sop_instance_uid, sop_class_uid, instance_number, number_of_frames, rows_,
                       columns_, transfer_syntax_uid, issuer, received_at_ms, size_bytes, digest, object_key, sm3)
OVERRIDING SYSTEM VALUE
SELECT g, (g - 1) / 3 + 1, '{UID_ROOT}9.' || g, ({sop})[{slot('st.id')}], 1 + (g - 1) % 3, 1, 512, 512,
       '1.2.840.10008.1.2.1', st.issuer, 0, 525000, md5(g::text) || md5(g::text), 'originals/bench/' || g,
       md5('sm3' || g) || md5(g::text)
FROM generate_series(1::bigint, {6 * s_n}) g JOIN studies st ON st.id = (g - 1) / 6 + 1;
SELECT setval(pg_get_serial_sequence('instances', 'id'), {6 * s_n});
"""))
    steps.append(("instance metadata (first instance of each study)", f"""
INSERT INTO instance_data (instance_pk, metadata, pixel_layout)
SELECT (s - 1) * 6 + 1, ({blob_arr})[{slot('s')}], '' FROM generate_series(1::bigint, {s_n}) s;
"""))
    mark_rows = ",".join(f"('{m['institution']}','{m['item']}',{str(m['passed']).lower()},'{m['scope']}',"
                         f"'{m['valid_from'].replace('-', '')}','{m['valid_to'].replace('-', '')}')" for m in marks(n_inst))
    items_of_slot = arr((EXAMS[i][3] or "") for i in SLOTS)
    steps.append(("recognition_study_items", f"""
CREATE TEMP TABLE bench_marks (institution text, item text, passed bool, scope text, valid_from text, valid_to text);
INSERT INTO bench_marks VALUES {mark_rows};
INSERT INTO recognition_study_items (study_instance_uid, item_code, hr, hr_scope)
SELECT st.study_instance_uid, x.item, (m.scope IS NOT NULL)::int, COALESCE(m.scope, '')
FROM studies st CROSS JOIN LATERAL (SELECT ({items_of_slot})[{slot('st.id')}] AS item) x
LEFT JOIN bench_marks m ON m.institution = st.issuer AND m.item = x.item AND m.passed
     AND st.study_date BETWEEN m.valid_from AND m.valid_to
WHERE x.item <> '';
"""))
    windows = "ARRAY[" + ",".join(str(ITEMS[c][3]) for c in ITEM_CODES) + "]"
    prices = "ARRAY[" + ",".join(str(ITEMS[c][4]) for c in ITEM_CODES) + "]"
    steps.append(("a year of orders, candidates and decisions", f"""
CREATE TEMP TABLE bench_orders AS
SELECT o, 'ro_' || md5('order' || o) AS order_id, ({arr(ITEM_CODES)})[1 + (o / {n_inst} * 31 + o) % {len(ITEM_CODES)}] AS item,
       ({windows})[1 + (o / {n_inst} * 31 + o) % {len(ITEM_CODES)}] AS window_days,
       ({prices})[1 + (o / {n_inst} * 31 + o) % {len(ITEM_CODES)}] AS price, (o * 7919) % 997 AS h,
       {today_sql} - ((o * 7) % 365)::int AS order_date, ({inst})[1 + o % {n_inst}] AS institution,
       ({arr(DEPARTMENTS)})[1 + (o / {n_inst}) % {len(DEPARTMENTS)}] AS department
FROM generate_series(1::bigint, {orders}) o;
INSERT INTO recognition_orders (order_id, his_order_id, region, item_code, order_date, institution, department, doctor, created_ms)
SELECT order_id, 'HIS' || o, '{REGION}', item, to_char(order_date, 'YYYYMMDD'), institution, department,
       'DR-' || institution || '-' || ((o / {n_inst}) * 13 % 40), {epoch_ms('order_date')} + 36000000 + o % 1000
FROM bench_orders ORDER BY o;
INSERT INTO recognition_candidates (order_id, study_instance_uid, offer_rank, source_institution, study_date, age_days, hr, hr_scope,
                                    region, institution, department, doctor, item_code, month, price_fen)
SELECT order_id, '{UID_ROOT}' || (1 + (o * 97 + c * 1009) % {s_n}), c, ({inst})[1 + (o + c + 3) % {n_inst}],
       to_char(order_date - ((o * 11 + c * 17) % window_days)::int, 'YYYYMMDD'), (o * 11 + c * 17) % window_days,
       ((o + c) % 3 <> 0)::int, CASE WHEN (o + c) % 3 <> 0 THEN '{REGION}' ELSE '' END, '{REGION}', institution, department,
       'DR-' || institution || '-' || ((o / {n_inst}) * 13 % 40), item, to_char(order_date, 'YYYY-MM'), price
FROM bench_orders, LATERAL generate_series(0, CASE WHEN h % 10 = 0 THEN -1 ELSE (h % 5 = 1)::int + (h % 3 = 0)::int END) c
ORDER BY o, c;
CREATE TEMP TABLE bench_decided AS
SELECT c.order_id, c.study_instance_uid, c.offer_rank, o.o, c.region, c.institution, c.department, c.doctor, c.item_code, c.month,
       c.price_fen, ro.created_ms, o.h,
       CASE WHEN (o.h * 13 + c.offer_rank * 7) % 20 < 14 THEN 'recognised' WHEN (o.h * 13 + c.offer_rank * 7) % 20 < 16 THEN 'partial'
            ELSE 'not-recognised' END AS outcome
FROM recognition_candidates c JOIN bench_orders o ON o.order_id = c.order_id JOIN recognition_orders ro ON ro.order_id = c.order_id
WHERE (o.h * 7 + c.offer_rank) % 10 <> 3;
INSERT INTO recognition_decisions (order_id, study_instance_uid, version, is_current, outcome, reason, note, patient_informed,
    reexam_order_id, doctor, department, institution, region, item_code, month, price_fen, opened_ms, decided_ms, amend_note)
SELECT order_id, study_instance_uid, v, (v = CASE WHEN h % 33 = 0 THEN 2 ELSE 1 END)::int,
       CASE WHEN v = 1 AND h % 33 = 0 THEN 'not-recognised' ELSE outcome END,
       CASE WHEN outcome = 'recognised' AND NOT (v = 1 AND h % 33 = 0) THEN ''
            ELSE ({arr(REASONS)})[1 + (h * 5 + offer_rank) % {len(REASONS)}] END,
       '', (outcome <> 'recognised')::int, '', doctor, department, institution, region, item_code, month, price_fen,
       CASE WHEN (h + offer_rank) % 20 = 0 THEN 0 ELSE 5000 + (o * 37) % 300000 END, created_ms + 600000 * v,
       CASE WHEN v = 2 THEN '更正' ELSE '' END
FROM bench_decided, LATERAL generate_series(1, CASE WHEN h % 33 = 0 THEN 2 ELSE 1 END) v;
"""))
    # The loaded rows are history the background passes have been through
    # (as on a platform that has been running): the recognition classifier
    # and the EMPI linker start after them, not with a pass over the archive.
    steps.append(("background passes' cursors", """
INSERT INTO cursors (name, value) SELECT 'recognition-classifier', COALESCE(MAX(id), 0) FROM instances
ON CONFLICT (name) DO UPDATE SET value = excluded.value;
INSERT INTO cursors (name, value) SELECT 'empi-archive-patients', COALESCE(MAX(id), 0) FROM patients
ON CONFLICT (name) DO UPDATE SET value = excluded.value;
"""))
    return steps
