//! Multi-planar reconstruction and 3D in the radiologist viewer
//! (`viewer/src/mpr.ts`; `viewer/tests/mpr.test.mjs` in headless Chromium,
//! WebGL from SwiftShader, and in headless Firefox, WebGL from Mesa's
//! llvmpipe, with the same tolerances): a 300-slice CT (testdata/gen_ct_series.py's chest
//! phantom) in three linked planes, checked voxel by voxel against the
//! source slices over WADO-RS; the crosshair moving and rotating the planes;
//! MIP, MinIP and average slabs of known thickness; the 3D view's presets;
//! back to the stack as it was. An Enhanced CT (one multi-frame instance)
//! opens with its frames as the slices, checked against WADO-RS frames and
//! its functional groups. A 5-slice series is refused.
//!
//! Needs the built viewer (`scripts/build-viewer.sh`, which `scripts/test.sh`
//! runs), Debian's chromium and firefox-esr.

use std::time::Duration;

use crate::harness::*;
use crate::viewer::{CHROMIUM, FIREFOX, node_test_in, viewer_dist};

#[test]
fn viewer_mpr_planes_crosshair_slabs_and_3d_of_a_300_slice_ct() {
    mpr_in(CHROMIUM);
}

/// The same in headless Firefox: WebGL 2 from Mesa's llvmpipe over EGL
/// (viewer/tests/lib/firefox.mjs says how).
#[test]
fn viewer_mpr_in_firefox() {
    mpr_in(FIREFOX);
}

fn mpr_in(browser: &str) {
    viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // 256² slices: a 20 MB volume, which SwiftShader draws in a few hundred
    // milliseconds a plane (512² is four times the texture and the work).
    gen_ct_with(&src.join("ct"), 300, 256, 29, &["--patient-id", "MPR-CT", "-q"]);
    gen_ct_with(&src.join("few"), 5, 256, 31, &["--patient-id", "MPR-FEW", "-q"]);
    // An Enhanced CT: one instance of 40 frames of 256² (5 MiB).
    gen_ct_with(&src.join("enhanced"), 1, 256, 43, &["--multiframe", "5", "--patient-id", "MPR-ENHANCED", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let server = Server::start(&data, None);
    // The lossless HTJ2K copies exist before the viewer asks for frames.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let counts = wait_for_jobs(&server.index().await, Duration::from_secs(300)).await;
        assert_eq!(counts.parked, 0, "{counts:?}");
    });
    node_test_in(
        browser,
        "mpr.test.mjs",
        &[
            ("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port)),
            ("VIEWER_PATIENT_ID", "MPR-CT".into()),
            ("VIEWER_FEW_ID", "MPR-FEW".into()),
            ("VIEWER_ENHANCED_ID", "MPR-ENHANCED".into()),
        ],
    );
}
