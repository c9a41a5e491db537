//! Several stateless nodes on one PostgreSQL database and one S3 bucket
//! (always that backend here, whatever `YUNYING_TEST_BACKEND` says).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::harness::*;

fn node_config(name: &str) -> String {
    // One rendition worker and short leases: the killed node holds few jobs,
    // and the survivor takes them up within seconds.
    format!("[renditions]\nnode = \"{name}\"\nworkers = 1\nlease_secs = 3\n")
}

fn study_instances(port: u16, study: &str) -> Vec<String> {
    let (status, body) = http_get(port, &format!("/dicom-web/studies/{study}/instances?includefield=00080018")).unwrap();
    assert_eq!(status, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    list.iter().map(|i| i["00080018"]["Value"][0].as_str().unwrap().to_string()).collect()
}

fn all_stored(results: &[serde_json::Value], n: usize, node: &str) {
    assert_eq!(results.len(), n, "{node}: {results:?}");
    for r in results {
        assert_eq!(r["status"], 0, "{node}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_one_study_exactly_once_and_survive_a_node_dying() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 120, 256, 17);
    let files = files_under(&series);
    let (a_dir, b_dir) = (tmp.path().join("node-a"), tmp.path().join("node-b"));
    share_distributed_backend(&[&a_dir, &b_dir]);
    let mut a = Server::start(&a_dir, Some(&node_config("node-a")));
    let b = Server::start(&b_dir, Some(&node_config("node-b")));

    // Half of the first 70 slices to each node, at the same time; then the
    // last 50 to both nodes at once.
    let (first, both): (Vec<PathBuf>, Vec<PathBuf>) = (files[..70].to_vec(), files[70..].to_vec());
    std::thread::scope(|s| {
        let to_a = s.spawn(|| pynetdicom_store(a.dicom_port, &[], &first[..35]));
        let to_b = s.spawn(|| pynetdicom_store(b.dicom_port, &[], &first[35..]));
        all_stored(&to_a.join().unwrap(), 35, "a");
        all_stored(&to_b.join().unwrap(), 35, "b");
        let to_a = s.spawn(|| pynetdicom_store(a.dicom_port, &[], &both));
        let to_b = s.spawn(|| pynetdicom_store(b.dicom_port, &[], &both));
        all_stored(&to_a.join().unwrap(), 50, "a (same 50)");
        all_stored(&to_b.join().unwrap(), 50, "b (same 50)");
    });

    // Kill node A while it holds rendition jobs.
    let index = b.index().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while index.running_jobs_of("node-a:").await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "node A never held a rendition job: {:?}", index.job_counts().await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.kill();
    let held = index.running_jobs_of("node-a:").await.unwrap();

    // B finishes everything, A's orphaned jobs included once their leases end.
    let counts = wait_for_jobs(&index, Duration::from_secs(180)).await;
    assert_eq!((counts.done, counts.parked), (120, 0), "every job done once, A's {held} orphaned ones too: {counts:?}");

    // One row per instance, one original object per instance.
    assert_eq!(index.counts().await.unwrap().instances, 120);
    let originals = b.object_keys("originals/");
    assert_eq!(originals.len(), 120, "the instances sent to both nodes are stored once");

    // Either node returns the whole study exactly once.
    let (status, body) = http_get(b.http_port, "/dicom-web/studies").unwrap();
    assert_eq!(status, 200);
    let studies: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(studies.len(), 1, "{body}");
    let study = studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_string();
    assert_eq!(studies[0]["00201208"]["Value"][0], 120, "Number of Study Related Instances");
    let a = Server::start(&a_dir, Some(&node_config("node-a")));
    for (node, port) in [("a", a.http_port), ("b", b.http_port)] {
        let sops = study_instances(port, &study);
        assert_eq!(sops.len(), 120, "node {node}");
        assert_eq!(sops.iter().collect::<BTreeSet<_>>().len(), 120, "node {node}: no instance twice");
    }

    // Every rendition exists once: one thumbnail and one preview per
    // instance, and the store holds exactly the recorded objects.
    let mut recorded = BTreeSet::new();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for key in &originals {
        let sop = key.rsplit('/').next().unwrap().split(".").collect::<Vec<_>>();
        let sop = sop[..sop.len() - 2].join(".");
        for r in index.renditions_of(&sop).await.unwrap() {
            *kinds.entry(r.kind.clone()).or_default() += 1;
            assert!(recorded.insert(r.object_key.clone()), "{} recorded twice", r.object_key);
        }
    }
    assert_eq!(kinds.get("thumbnail"), Some(&120), "{kinds:?}");
    assert_eq!(kinds.get("preview"), Some(&120), "{kinds:?}");
    let stored: BTreeSet<String> = b.object_keys("renditions/").into_iter().collect();
    assert_eq!(stored, recorded, "no stray or missing rendition objects");
    index.close().await;
}
