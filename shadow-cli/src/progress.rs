//! A progress bar on standard error for large inputs: bytes read of the total, and MB/s.
//! Drawn only when standard error is a terminal and the input is larger than [`THRESHOLD`].

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Inputs up to this many bytes get no bar.
pub const THRESHOLD: u64 = 8 << 20;
const REDRAW: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

/// Counts bytes and redraws at most every 100 ms.
///
/// ```
/// let mut p = shadow_cli::progress::Progress::new(1 << 30, false);
/// p.add(4096); // not enabled: draws nothing
/// p.finish();
/// ```
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    drawn: bool,
    total: u64,
    done: u64,
    next_check: u64,
    start: Instant,
    last: Instant,
}

impl Progress {
    /// A bar over `total` bytes, drawn if `allowed`, standard error is a terminal and `total`
    /// is above [`THRESHOLD`].
    ///
    /// ```
    /// let p = shadow_cli::progress::Progress::new(10, true);
    /// # let _ = p;
    /// ```
    pub fn new(total: u64, allowed: bool) -> Progress {
        let now = Instant::now();
        Progress {
            enabled: allowed && total > THRESHOLD && std::io::stderr().is_terminal(),
            drawn: false,
            total,
            done: 0,
            next_check: 0,
            start: now,
            last: now,
        }
    }

    /// Counts `n` more bytes read.
    ///
    /// ```
    /// let mut p = shadow_cli::progress::Progress::new(10, false);
    /// p.add(10);
    /// ```
    #[inline]
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if self.enabled && self.done >= self.next_check {
            self.next_check = self.done + (256 << 10);
            if self.last.elapsed() >= REDRAW {
                self.last = Instant::now();
                self.drawn = true;
                let line = bar(self.done, self.total, self.start.elapsed());
                let _ = write!(std::io::stderr().lock(), "\r{line}");
            }
        }
    }

    /// Erases the bar.
    ///
    /// ```
    /// shadow_cli::progress::Progress::new(10, false).finish();
    /// ```
    pub fn finish(self) {
        if self.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

/// One frame: `[=========>          ]  45.1/100.0 MB   87.2 MB/s`.
///
/// ```
/// let s = shadow_cli::progress::bar(50_000_000, 100_000_000, std::time::Duration::from_secs(1));
/// assert_eq!(s, "[===============>              ]  50.0/100.0 MB   50.0 MB/s");
/// ```
pub fn bar(done: u64, total: u64, elapsed: Duration) -> String {
    let frac = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let filled = (frac * WIDTH as f64) as usize;
    let mut b = "=".repeat(filled);
    if filled < WIDTH {
        b.push('>');
        b.push_str(&" ".repeat(WIDTH - filled - 1));
    }
    let rate = done as f64 / 1e6 / elapsed.as_secs_f64().max(1e-6);
    format!(
        "[{b}] {:>5.1}/{:.1} MB {:>6.1} MB/s",
        done as f64 / 1e6,
        total as f64 / 1e6,
        rate
    )
}
