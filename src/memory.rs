//! How many heaps the allocator keeps.
//!
//! glibc's allocator gives threads that allocate at the same time arenas
//! of their own, up to eight per core, and keeps the memory each arena
//! once held for reuse there. A node's threads (the runtime's, the
//! blocking pool's, the codecs') meet in many arenas, each settling at its
//! own high-water mark, and resident memory crept up for as long as a node
//! ran although its live heap stayed flat (issue 24: heaptrack's live heap
//! 8.9 MB at minute 1 and 9.2 MB at minute 12, RssAnon +3.5 MB in 20
//! minutes, all of it in the arenas; handing free pages back with
//! `malloc_trim` every minute did not change it). With one arena per core
//! the same soak's anonymous memory stays flat, at about two thirds.
//!
//! `MALLOC_ARENA_MAX` in the environment still decides when it is set.

/// Limit glibc to one malloc arena per core (at least two, at most
/// eight). Called first thing, while the process has one thread.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = cores.clamp(2, 8) as libc::c_int;
        // SAFETY: mallopt takes no pointers; M_ARENA_MAX only bounds how
        // many arenas later allocations may create.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
