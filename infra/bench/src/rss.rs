//! A process's peak resident set size, from Linux's `/proc`.

/// `VmHWM` of `/proc/{pid}/status` in KiB; 0 if the process is gone.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_a_peak_rss() {
        assert!(super::peak_rss_kib(std::process::id()) > 0);
    }
}
