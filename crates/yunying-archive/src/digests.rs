//! The two digests of every stored object, computed in one pass over its
//! bytes: SHA-256 (the object key's version, the S3 upload checksum) and
//! SM3 (GB/T 32905, the national standard hash that city health plans ask
//! for on important data).
//!
//! At ingest the two are split ([`Sm3Lane`]): SHA-256 (hardware-assisted,
//! ~1.4 GB/s) is computed as the spool is written, because the object key
//! needs it before the object is stored; SM3 (software, ~230 MB/s, six times
//! slower) runs beside the receipt on a thread of its own (at most
//! [`MAX_LANES`] at once; past them, in line) and is awaited only when the
//! index row is written, after the object's fsync. On a machine with a core
//! to spare the sender waits no longer for it.

use sha2::{Digest, Sha256};
use sm3::Sm3;

/// SHA-256 and SM3 of the same bytes, fed once.
#[derive(Clone, Default)]
pub struct ObjectHasher {
    sha256: Sha256,
    sm3: Sm3,
}

/// What an [`ObjectHasher`] computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectDigests {
    pub sha256: [u8; 32],
    pub sm3: [u8; 32],
}

impl ObjectHasher {
    /// A hasher that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes to both digests.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.sm3.update(bytes);
    }

    /// Both digests of everything fed.
    pub fn finalize(self) -> ObjectDigests {
        ObjectDigests { sha256: self.sha256.finalize().into(), sm3: self.sm3.finalize().into() }
    }
}

/// Chunks waiting for an [`Sm3Lane`] at most: it bounds the memory one
/// instance can hold when the lane falls behind the network (the sender is
/// then held back, as by a slow disk).
pub const LANE_DEPTH: usize = 32;

/// Most lanes with a thread of their own at once (per process): each holds
/// one of the runtime's blocking threads while its instance is received,
/// and those threads also write every spool. Instances past it hash in
/// line, as they arrive.
pub const MAX_LANES: usize = 64;

static LANES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_LANES);

/// The SM3 of an object being received, computed as its bytes arrive: on a
/// blocking thread of its own when one of [`MAX_LANES`] is free, else in
/// line. Dropping the lane abandons the digest.
pub struct Sm3Lane(Lane);

enum Lane {
    Thread { tx: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>, digest: tokio::task::JoinHandle<[u8; 32]> },
    Inline(Box<Sm3>),
}

impl Sm3Lane {
    /// A lane that has been fed `first` (the file meta header).
    pub fn start(first: bytes::Bytes) -> Sm3Lane {
        let Ok(permit) = LANES.try_acquire() else {
            let mut sm3 = Sm3::new();
            sm3.update(&first);
            return Sm3Lane(Lane::Inline(Box::new(sm3)));
        };
        permit.forget();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(LANE_DEPTH);
        let digest = tokio::task::spawn_blocking(move || {
            // The permit goes back however the thread ends.
            struct Release;
            impl Drop for Release {
                fn drop(&mut self) {
                    LANES.add_permits(1);
                }
            }
            let _release = Release;
            let mut sm3 = Sm3::new();
            sm3.update(&first);
            while let Some(bytes) = rx.blocking_recv() {
                sm3.update(&bytes);
            }
            sm3.finalize().into()
        });
        Sm3Lane(Lane::Thread { tx: Some(tx), digest })
    }

    /// Whether this lane hashes on a thread of its own.
    pub fn threaded(&self) -> bool {
        matches!(self.0, Lane::Thread { .. })
    }

    /// Hand the next bytes to the lane; waits only when [`LANE_DEPTH`]
    /// chunks are already waiting (or, in line, while they are hashed).
    pub async fn feed(&mut self, bytes: bytes::Bytes) -> Result<(), LaneError> {
        match &mut self.0 {
            Lane::Thread { tx, .. } => tx.as_ref().ok_or(LaneError)?.send(bytes).await.map_err(|_| LaneError),
            Lane::Inline(sm3) => {
                sm3.update(&bytes);
                Ok(())
            }
        }
    }

    /// The SM3 of everything fed.
    pub async fn finish(mut self) -> Result<[u8; 32], LaneError> {
        match &mut self.0 {
            Lane::Thread { tx, digest } => {
                drop(tx.take());
                digest.await.map_err(|_| LaneError)
            }
            Lane::Inline(sm3) => Ok(std::mem::take(&mut **sm3).finalize().into()),
        }
    }
}

impl Drop for Sm3Lane {
    fn drop(&mut self) {
        // The sender goes with the lane, so the thread ends after what it
        // holds (and gives its permit back); a finished lane has already
        // been awaited.
        if let Lane::Thread { tx, .. } = &mut self.0 {
            tx.take();
        }
    }
}

/// The SM3 lane's thread is gone (it panicked, or the runtime is stopping).
#[derive(Debug, thiserror::Error)]
#[error("the SM3 digest could not be computed")]
pub struct LaneError;

impl std::io::Write for ObjectHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ObjectDigests {
    /// SHA-256, lower-case hex (as the index records it).
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// SM3, lower-case hex (as the index records it).
    pub fn sm3_hex(&self) -> String {
        hex::encode(self.sm3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm3_of(bytes: &[u8]) -> String {
        let mut h = ObjectHasher::new();
        h.update(bytes);
        h.finalize().sm3_hex()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lanes_past_the_limit_hash_in_line_and_their_threads_come_back() {
        let data = b"the same bytes through every lane ".repeat(1_000);
        let mut lanes: Vec<Sm3Lane> = (0..MAX_LANES + 3).map(|_| Sm3Lane::start(bytes::Bytes::copy_from_slice(&data[..10]))).collect();
        assert_eq!(lanes.iter().filter(|l| l.threaded()).count(), MAX_LANES, "at most MAX_LANES blocking threads");
        for lane in &mut lanes {
            lane.feed(bytes::Bytes::copy_from_slice(&data[10..])).await.unwrap();
        }
        let want = hex::encode(Sm3::digest(&data));
        for lane in lanes {
            assert_eq!(hex::encode(lane.finish().await.unwrap()), want);
        }
        // Finished (and abandoned) lanes give their threads back.
        let abandoned = Sm3Lane::start(bytes::Bytes::new());
        assert!(abandoned.threaded());
        drop(abandoned);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while LANES.available_permits() < MAX_LANES {
            assert!(std::time::Instant::now() < deadline, "a lane's thread kept its permit");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lane_gives_the_sm3_of_everything_fed_in_order() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut lane = Sm3Lane::start(bytes::Bytes::copy_from_slice(&data[..132]));
        // More chunks than the lane holds, of uneven sizes: order matters.
        for piece in data[132..].chunks(4_093) {
            lane.feed(bytes::Bytes::copy_from_slice(piece)).await.unwrap();
        }
        assert_eq!(hex::encode(lane.finish().await.unwrap()), hex::encode(Sm3::digest(&data)));
        // Abandoned half-way: nothing hangs.
        let mut lane = Sm3Lane::start(bytes::Bytes::from_static(b"x"));
        lane.feed(bytes::Bytes::from_static(b"y")).await.unwrap();
        drop(lane);
    }

    #[test]
    fn sm3_matches_the_gb_t_32905_vectors() {
        assert_eq!(sm3_of(b"abc"), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
        assert_eq!(sm3_of(&b"abcd".repeat(16)), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    }

    #[test]
    fn both_digests_come_from_one_pass_in_any_split() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let mut split = ObjectHasher::new();
        for chunk in data.chunks(777) {
            split.update(chunk);
        }
        let split = split.finalize();
        assert_eq!(split.sha256_hex(), hex::encode(Sha256::digest(&data)));
        assert_eq!(split.sm3_hex(), hex::encode(Sm3::digest(&data)));
    }
}
