//! A sample report, and the tools the tests check the objects with.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use yunying_report::*;

pub const CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const ENHANCED_CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2.1";
pub const STUDY_UID: &str = "1.2.826.0.1.3680043.10.543.1";
pub const SERIES_A: &str = "1.2.826.0.1.3680043.10.543.1.2";
pub const SERIES_B: &str = "1.2.826.0.1.3680043.10.543.1.3";

pub const FINDINGS: &str = "胸廓对称，气管居中。\n右肺上叶尖段见一磨玻璃结节，大小约12.5mm×9.8mm，边界清楚，内见空泡征。\n左肺下叶见条索影。纵隔内未见肿大淋巴结，心影不大。\n双侧胸腔未见积液。";
pub const IMPRESSION: &str = "1. 右肺上叶磨玻璃结节，考虑早期肺癌可能，建议进一步检查。\n2. 左肺下叶少许纤维灶。";

/// The length's line, in pixels (column, row); values an FL holds exactly.
pub const LENGTH_POINTS: [(f64, f64); 2] = [(200.5, 180.25), (218.75, 190.5)];
/// The region's outline (closed by the GSPS).
pub const ROI_POINTS: [(f64, f64); 4] = [(300.0, 300.0), (320.5, 300.0), (320.5, 318.25), (300.0, 318.25)];

pub fn image(series: &str, n: u32, frame: Option<u32>) -> ImageRef {
    ImageRef {
        // A frame is of a multi-frame image.
        sop_class_uid: if frame.is_some() { ENHANCED_CT_IMAGE } else { CT_IMAGE }.into(),
        sop_instance_uid: format!("{series}.{n}"),
        series_instance_uid: series.into(),
        frame,
        rows: Some(512),
        columns: Some(512),
    }
}

pub fn sample() -> ReportInput {
    ReportInput {
        study: StudyIdentity {
            patient_name: "Zhang^San=张^三".into(),
            patient_id: "P0012345".into(),
            issuer_of_patient_id: "XX镇卫生院".into(),
            patient_birth_date: "19790302".into(),
            patient_sex: "M".into(),
            study_instance_uid: STUDY_UID.into(),
            study_id: "1001".into(),
            accession_number: "A20240501001".into(),
            study_date: "20240501".into(),
            study_time: "093000".into(),
            referring_physician_name: "Wang^Wei=王^伟".into(),
            study_description: "胸部CT平扫".into(),
        },
        requesting_institution: "XX镇卫生院".into(),
        reading_institution: "XX市影像诊断中心".into(),
        modality: "CT".into(),
        body_part: "CHEST".into(),
        clinical_info: "咳嗽两周，发热3天。".into(),
        template_name: "胸部CT平扫".into(),
        findings: FINDINGS.into(),
        impression: IMPRESSION.into(),
        critical: true,
        measurements: vec![
            // A length (a line) on a CT image, and a CT value in a region
            // (a closed outline of four points) on another.
            Measurement {
                label: "结节长径".into(),
                value: 12.5,
                unit: "mm".into(),
                image: Some(image(SERIES_A, 45, None)),
                points: LENGTH_POINTS.to_vec(),
            },
            Measurement {
                label: "结节CT值".into(),
                value: -612.0,
                unit: "[hnsf'U]".into(),
                image: Some(image(SERIES_A, 46, None)),
                points: ROI_POINTS.to_vec(),
            },
        ],
        key_images: vec![image(SERIES_A, 45, None), image(SERIES_B, 7, Some(3))],
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

pub fn uids(version: u32) -> ReportUids {
    let base = "2.25.1000000000000000000000000000000";
    ReportUids {
        series_instance_uid: format!("{base}1{version}"),
        sr_sop_instance_uid: format!("{base}2{version}"),
        kos_series_instance_uid: format!("{base}3{version}"),
        kos_sop_instance_uid: format!("{base}4{version}"),
        pdf_series_instance_uid: format!("{base}5{version}"),
        pdf_sop_instance_uid: format!("{base}6{version}"),
        gsps_series_instance_uid: format!("{base}7{version}"),
        gsps_sop_instance_uid: format!("{base}8{version}"),
        series_number: 9900 + version as i32,
        kos_series_number: 9910 + version as i32,
        pdf_series_number: 9920 + version as i32,
        gsps_series_number: 9930 + version as i32,
    }
}

pub fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        if !SYSTEM_FONT_PATHS.iter().any(|p| Path::new(p).exists()) {
            apt_install("fonts-noto-cjk");
        }
        Fonts::find_system().expect("a Chinese font (fonts-noto-cjk)")
    })
}

static APT: Mutex<()> = Mutex::new(());

fn apt_install(package: &str) -> bool {
    let _guard = APT.lock().unwrap_or_else(|e| e.into_inner());
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !root {
        return false;
    }
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    let install = || {
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq", package])
            .envs(env)
            .status()
            .is_ok_and(|s| s.success())
    };
    install() || {
        let _ = Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=300", "update", "-qq"]).envs(env).status();
        install()
    }
}

/// Whether `tool` can run: installs its Debian package when it is missing
/// and this is root. `false` (with a message) only when it cannot be had.
pub fn ensure_tool(tool: &str, package: &str) -> bool {
    let found = |t: &str| Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success());
    if found(tool) {
        return true;
    }
    if apt_install(package) && found(tool) {
        return true;
    }
    eprintln!("SKIPPED: {tool} is missing and the Debian package {package} could not be installed");
    false
}

pub fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
