//! The only place that writes to stderr, and the progress bar.
//!
//! Messages name files, lines, columns and rules; callers never pass field
//! values here. Progress is drawn only when stderr is a terminal and
//! `--quiet` is off. Signals (SIGINT, SIGTERM) are caught here and turned
//! into a flag the pipeline polls, so an interrupted run removes its
//! temporary file and exits 130/143.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::Reporter;

/// Writes warnings, errors and progress to stderr.
#[derive(Debug)]
pub struct Messages {
    quiet: bool,
    progress: Mutex<Option<ProgressBar>>,
    signal: Arc<AtomicUsize>,
}

impl Messages {
    /// `quiet` silences progress and informational lines (not warnings or errors).
    pub fn new(quiet: bool) -> Messages {
        Messages {
            quiet,
            progress: Mutex::new(None),
            signal: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Catch SIGINT and SIGTERM. The first sets the flag the pipeline polls;
    /// a second one ends the process at once (exit 128 + signal), after
    /// removing the temporary outputs (`.NAME.txanon-tmp-PID`) of the run.
    pub fn catch_signals(&self) {
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            for sig in [SIGINT, SIGTERM] {
                let _ = signal_hook::flag::register_usize(sig, self.signal.clone(), sig as usize);
            }
            stop_at_signal(2);
        }
    }

    /// For runs that do not poll [`Reporter::interrupted`] (the DataFusion
    /// engine): the first SIGINT or SIGTERM ends the process at once (exit
    /// 128 + signal), after removing the temporary outputs of the run.
    pub fn stop_on_signal(&self) {
        #[cfg(unix)]
        stop_at_signal(1);
    }

    /// An error, printed once with its context chain.
    pub fn error(&self, message: &str) {
        self.clear_progress();
        let _ = writeln!(std::io::stderr().lock(), "txanon: error: {message}");
    }

    /// A warning.
    pub fn warning(&self, message: &str) {
        self.clear_progress();
        let _ = writeln!(std::io::stderr().lock(), "txanon: warning: {message}");
    }

    /// An informational line (suppressed by `--quiet`).
    pub fn info(&self, message: &str) {
        if !self.quiet {
            self.clear_progress();
            let _ = writeln!(std::io::stderr().lock(), "{message}");
        }
    }

    /// A block that is always printed (the run summary).
    pub fn block(&self, text: &str) {
        self.clear_progress();
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// The loud demo-key warning.
    pub fn demo_key_warning(&self) {
        self.warning(
            "USING THE PUBLISHED DEMO KEY (data-samples/demo.key). Anyone can recompute these \
             tokens from guessed phone numbers and e-mail addresses: they protect NOTHING. \
             Never share output made with it; make a real key with `txanon keygen -o PATH`.",
        );
    }

    fn clear_progress(&self) {
        if let Ok(mut p) = self.progress.lock() {
            if let Some(bar) = p.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// A thread that waits for SIGINT and SIGTERM and, at the `nth`, removes
/// the temporary outputs and ends the process (exit 128 + signal).
/// Removing files is not allowed in a signal handler, hence the thread.
#[cfg(unix)]
fn stop_at_signal(nth: usize) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("txanon-signals".into())
        .spawn(move || {
            for (seen, sig) in signals.forever().enumerate() {
                if seen + 1 >= nth {
                    let again = if nth > 1 { " again" } else { "" };
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "txanon: error: interrupted{again} by signal {sig}: stopped at once; \
                         temporary files are removed"
                    );
                    crate::io::output::remove_temporaries_and_exit(128 + sig);
                }
            }
        });
}

impl Reporter for Messages {
    fn warn(&self, message: &str) {
        self.warning(message);
    }

    fn start(&self, total_bytes: u64) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        if let Ok(mut p) = self.progress.lock() {
            *p = Some(bar);
        }
    }

    fn progress(&self, bytes_done: u64) {
        if let Ok(p) = self.progress.lock() {
            if let Some(bar) = p.as_ref() {
                bar.set_position(bytes_done);
            }
        }
    }

    fn interrupted(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }
}
