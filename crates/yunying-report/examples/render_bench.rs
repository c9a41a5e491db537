//! The benchmark: PDF rendering of a typical report (one page,
//! about 600 Chinese characters) must take at most 300 ms. Prints the
//! median of 50 renders, and of 50 whole builds (SR, KOS, GSPS, PDF,
//! encapsulated PDF), with the font loaded once beforehand.
//!
//! `cargo run --release -p yunying-report --example render_bench [FONT]`

use std::path::Path;
use std::time::{Duration, Instant};

use yunying_report::*;

const PARAGRAPH: &str =
    "右肺上叶尖段见一磨玻璃密度结节，大小约12.5mm×9.8mm，边界清楚，边缘可见浅分叶及短毛刺，内见空泡征，邻近胸膜牵拉，增强扫描轻度强化。";

fn input() -> ReportInput {
    let image = |n: u32| ImageRef {
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        sop_instance_uid: format!("1.2.826.0.1.3680043.10.543.1.2.{n}"),
        series_instance_uid: "1.2.826.0.1.3680043.10.543.1.2".into(),
        frame: None,
        rows: Some(512),
        columns: Some(512),
    };
    let findings = [
        "胸廓对称，气管居中，纵隔未见移位。双肺纹理清晰，走行自然，肺野透亮度正常。",
        PARAGRAPH,
        "左肺下叶后基底段见条索状高密度影，边缘清晰。双肺其余部分未见明确实变及结节影。",
        "双侧肺门不大，纵隔内未见明显肿大淋巴结，心影大小形态未见异常，主动脉壁可见少许钙化。",
        "双侧胸腔未见积液，胸膜未见增厚。所见骨质结构未见明确骨质破坏征象。",
        PARAGRAPH,
        "甲状腺双侧叶密度均匀，未见明确结节。上腹部所见肝脏、脾脏形态密度未见明显异常。",
        "与2023年10月12日外院CT片对比：右肺上叶结节较前略增大（前片约10.8mm×8.6mm），实性成分较前增多；左肺下叶条索影大致同前。",
        "扫描范围内所见胸椎椎体边缘骨质增生，椎间隙未见明显狭窄。双侧腋窝未见肿大淋巴结。胸壁软组织未见异常。食管未见明显扩张，壁未见增厚。",
    ]
    .join("\n");
    let impression = "1. 右肺上叶尖段磨玻璃密度结节，大小约12.5mm×9.8mm，较前略增大，实性成分增多，考虑早期肺癌（微浸润腺癌）可能性大，建议胸外科会诊，必要时行穿刺活检或手术切除。\n2. 左肺下叶少许纤维灶，大致同前。\n3. 主动脉硬化；胸椎退行性变。";
    assert!((550..=700).contains(&(findings.chars().count() + impression.chars().count())), "about 600 characters");
    ReportInput {
        study: StudyIdentity {
            patient_name: "Zhang^San=张^三".into(),
            patient_id: "P0012345".into(),
            issuer_of_patient_id: String::new(),
            patient_birth_date: "19790302".into(),
            patient_sex: "M".into(),
            study_instance_uid: "1.2.826.0.1.3680043.10.543.1".into(),
            study_id: "1001".into(),
            accession_number: "A20240501001".into(),
            study_date: "20240501".into(),
            study_time: "093000".into(),
            referring_physician_name: String::new(),
            study_description: "胸部CT平扫".into(),
        },
        requesting_institution: "XX镇卫生院".into(),
        reading_institution: "XX市影像诊断中心".into(),
        modality: "CT".into(),
        body_part: "CHEST".into(),
        clinical_info: "咳嗽两周，发热3天，吸烟史20年。".into(),
        template_name: "胸部CT平扫".into(),
        findings,
        impression: impression.into(),
        critical: false,
        measurements: vec![
            Measurement {
                label: "结节长径".into(),
                value: 12.5,
                unit: "mm".into(),
                image: Some(image(45)),
                points: vec![(200.5, 180.25), (218.75, 190.5)],
            },
            Measurement {
                label: "结节CT值".into(),
                value: -612.0,
                unit: "[hnsf'U]".into(),
                image: Some(image(45)),
                points: vec![(204.0, 182.0), (214.0, 182.0), (214.0, 189.0), (204.0, 189.0)],
            },
        ],
        key_images: vec![image(45), image(46)],
        author: Person { name: "李医生".into(), id: "usr_li_0001".into() },
        verifier: Some(Person { name: "王主任".into(), id: "usr_wang_0002".into() }),
        signed_at: DateTimeParts { date: "20240501".into(), time: "103000".into(), tz_offset: "+0800".into() },
        version: 1,
        predecessor: None,
        amend_reason: String::new(),
        request_id: "rr_0123456789abcdef".into(),
        signature: Some(SignatureInfo {
            algorithm: "SM2-SM3".into(),
            key_id: "reading-centre-2024".into(),
            content_digest_hex: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0".into(),
            signature_b64: "MEUCIQDkq3e0hT5vJm3Xq9yW0u8cQm0x1Zb2Yc3Vd4We5Xf6YgIgQ2w3e4r5t6y7u8i9o0p1a2s3d4f5g6h7j8k9l0z1x2c=".into(),
        }),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let t = Instant::now();
    let fonts = match std::env::args().nth(1) {
        Some(p) => Fonts::load(Path::new(&p)),
        None => Fonts::find_system(),
    }
    .expect("a Chinese font");
    println!("font: {} ({}), loaded in {:.1} ms", fonts.path().display(), fonts.family(), t.elapsed().as_secs_f64() * 1e3);
    let input = input();
    let uids = ReportUids {
        series_instance_uid: "2.25.1001".into(),
        sr_sop_instance_uid: "2.25.1002".into(),
        kos_series_instance_uid: "2.25.1003".into(),
        kos_sop_instance_uid: "2.25.1004".into(),
        pdf_series_instance_uid: "2.25.1005".into(),
        pdf_sop_instance_uid: "2.25.1006".into(),
        gsps_series_instance_uid: "2.25.1007".into(),
        gsps_sop_instance_uid: "2.25.1008".into(),
        series_number: 9901,
        kos_series_number: 9911,
        pdf_series_number: 9921,
        gsps_series_number: 9931,
    };
    let first = render_pdf(&input, &uids, &fonts).expect("renders");
    let mut renders = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let pdf = render_pdf(&input, &uids, &fonts).expect("renders");
        renders.push(t.elapsed());
        assert_eq!(pdf, first, "deterministic");
    }
    let mut builds = Vec::new();
    let mut pages = 0;
    for _ in 0..50 {
        let t = Instant::now();
        let built = build(&input, &uids, &fonts).expect("builds");
        builds.push(t.elapsed());
        pages = built.pdf_pages;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "report: {} characters of findings and impression, {pages} page(s), PDF {} bytes",
        input.findings.chars().count() + input.impression.chars().count(),
        first.len()
    );
    println!(
        "PDF render: median {:.2} ms of 50 (min {:.2}, max {:.2})",
        ms(median(renders.clone())),
        ms(*renders.iter().min().unwrap()),
        ms(*renders.iter().max().unwrap())
    );
    println!("whole build (SR, KOS, PDF, encapsulated PDF): median {:.2} ms of 50", ms(median(builds)));
}
