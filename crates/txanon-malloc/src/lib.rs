//! txanon's memory allocator set-up, and its only `unsafe` code.
//!
//! **jemalloc is the global allocator** (except on MSVC targets, which it
//! does not support). The pipeline allocates and frees multi-megabyte
//! buffers for every chunk of records; glibc's malloc either keeps them in
//! its heap arenas, where freed space fragments and peak RSS grows with the
//! input (measured: 204 MiB after 1.4 GB, 297 MiB after 10 GB), or, with a
//! fixed mmap threshold, maps and unmaps every one of them, so the kernel
//! zeroes fresh pages for each chunk (page faults were 15-18 % of CPU).
//! jemalloc reuses freed pages and returns unused ones to the kernel after
//! a decay period, which bounds both (BENCHMARKS.md has the figures). The
//! declaration below is safe code; `tikv-jemallocator` is the maintained
//! binding used by TiKV and rustc.
//!
//! C libraries linked into txanon (zstd) still call glibc's `malloc`, so
//! glibc's mmap threshold is still fixed at start-up, by one `mallopt` call:
//! glibc raises its threshold to the size of every large block freed (up to
//! 32 MiB), and setting it explicitly switches that adjustment off.
//! The `txanon` crate itself forbids `unsafe`.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Set glibc's `M_MMAP_THRESHOLD` to `bytes`. Returns whether the allocator
/// took it (always `false` off glibc, where there is nothing to fix).
pub fn fix_mmap_threshold(bytes: usize) -> bool {
    imp::fix_mmap_threshold(bytes)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    pub fn fix_mmap_threshold(bytes: usize) -> bool {
        let Ok(value) = libc::c_int::try_from(bytes) else {
            return false;
        };
        // SAFETY: mallopt only sets an allocator parameter; it is called
        // before any other thread exists, with a value glibc range-checks
        // (it returns 0 and changes nothing for a value it refuses).
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, value) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn fix_mmap_threshold(_bytes: usize) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_takes_the_threshold_and_an_unrepresentable_one_is_refused() {
        let on_glibc = cfg!(all(target_os = "linux", target_env = "gnu"));
        assert!(!super::fix_mmap_threshold(usize::MAX));
        assert_eq!(super::fix_mmap_threshold(1 << 20), on_glibc);
    }
}
