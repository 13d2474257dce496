//! Process-wide memory settings for binaries built on this crate.

/// Turns transparent huge pages off for this process (Linux), unless
/// `MIMALLOC_ALLOW_THP` is set, which then decides as mimalloc reads it.
///
/// A pipeline allocates records on its task threads and frees them on its
/// workers, so the allocator keeps returning and taking back memory. With
/// transparent huge pages, each page taken back is a fresh 2 MiB page that
/// the kernel zeroes: 15–20 % of the CPU time of a PostgreSQL snapshot
/// job went to `clear_page_erms` (BENCHMARKS.md, "Transparent huge
/// pages"). With 4 KiB pages that cost is gone. The CLI calls this first
/// thing in `main`; a program of your own that uses mimalloc may too. It
/// changes nothing on other systems, and a kernel that refuses is logged
/// at debug level and otherwise ignored.
///
/// ```
/// timely_connect_operators::disable_transparent_huge_pages();
/// ```
pub fn disable_transparent_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes an integer flag and three zero
        // arguments; it changes a flag of this process and touches no
        // memory of ours.
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if rc != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "could not turn transparent huge pages off"
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn huge_pages_are_off_after_the_call() {
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
            return;
        }
        super::disable_transparent_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE takes no pointer; it returns the flag.
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 1, "PR_GET_THP_DISABLE after the call");
    }
}
