//! Scout lines in the radiologist viewer (`viewer/src/scout.ts`;
//! `viewer/tests/scout.test.mjs` in headless Chromium): a CT study with an
//! axial series and a coronal localizer in one frame of reference
//! (testdata/gen_ct_series.py --scout). The localizer shows a line at the
//! table position of the axial slice shown, checked against the slice's
//! Image Position (Patient) from QIDO-RS, and the line follows the slice as
//! the reader scrolls; the key O hides and shows it; parallel planes show
//! none. In headless Firefox too.

use crate::harness::*;
use crate::viewer::{CHROMIUM, FIREFOX, node_test_in, viewer_dist};

#[test]
fn viewer_scout_lines_follow_the_active_slice() {
    scout_in(CHROMIUM);
}

#[test]
fn viewer_scout_lines_in_firefox() {
    scout_in(FIREFOX);
}

fn scout_in(browser: &str) {
    viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 40, 128, 37, &["--patient-id", "SCOUT-CT", "--scout", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let server = Server::start(&data, None);
    node_test_in(
        browser,
        "scout.test.mjs",
        &[("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port)), ("VIEWER_PATIENT_ID", "SCOUT-CT".into())],
    );
}
