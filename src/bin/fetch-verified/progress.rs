//! fetch-verified's progress bars: shown on a terminal only, never under
//! `make -j`, and not for a re-verification too short to watch.

/// Is this run one of several make runs in parallel (`make -j`)? Their
/// progress bars would fight over one terminal line.
pub fn parallel_make() -> bool {
    std::env::var("MAKEFLAGS").is_ok_and(|f| {
        // Flags come before a lone `--` (variable definitions after it).
        let flags = f.split(" -- ").next().unwrap_or_default();
        flags.contains("--jobserver-auth")
            || flags.contains("--jobserver-fds")
            || flags.split_whitespace().enumerate().any(|(i, w)| {
                w.starts_with("-j")
                    || (i == 0 && !w.starts_with('-') && !w.contains('=') && w.contains('j'))
            })
    })
}

/// Re-verifying a file smaller than this is too quick to show a bar for.
const REVERIFY_BAR_MIN: u64 = 32 << 20;

/// A progress bar for `what` ("fetching", "re-verifying") of `name`,
/// cleared by the library when done.
pub fn bar(name: &str, what: &str, len: Option<u64>) -> indicatif::ProgressBar {
    if what == "re-verifying" && len.is_some_and(|n| n < REVERIFY_BAR_MIN) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = if len.is_some() {
        "{prefix} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} {eta}"
    } else {
        "{prefix} {spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_prefix(format!("{what} {name}"));
    bar
}
