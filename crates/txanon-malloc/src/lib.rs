//! Fix glibc's mmap threshold before txanon allocates its buffers.
//!
//! glibc raises its mmap threshold to the size of every large block freed
//! (up to 32 MiB), so after the first multi-megabyte chunk buffer is freed,
//! such buffers come from the heap arenas, where freed space is kept and
//! fragments: peak RSS then grows with the input over a multi-file run
//! (measured: 204 MiB after 1.4 GB, 297 MiB after 10 GB; BENCHMARKS.md).
//! Setting the threshold explicitly switches the dynamic adjustment off, so
//! blocks of at least `bytes` are always mapped and unmapped.
//!
//! This crate holds txanon's only `unsafe` code (one `mallopt` call); the
//! `txanon` crate itself forbids `unsafe`.

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
