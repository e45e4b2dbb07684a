//! A progress bar on standard error for large inputs (`indicatif`): bytes read of the total, and
//! MB/s. Drawn only when standard error is a terminal and the input is larger than
//! [`THRESHOLD`].

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Inputs up to this many bytes get no bar.
pub const THRESHOLD: u64 = 8 << 20;
/// Redraws per second at most (one every 100 ms).
const REDRAW_HZ: u8 = 10;
/// Bytes counted before the bar hears of them: the read loop stays a counter and a compare.
const BATCH: u64 = 256 << 10;

/// Counts bytes and redraws at most every 100 ms.
///
/// ```
/// let mut p = shadow_cli::progress::Progress::new(1 << 30, false);
/// p.add(4096); // not enabled: draws nothing
/// p.finish();
/// ```
#[derive(Debug)]
pub struct Progress {
    /// `None` when not drawn.
    bar: Option<ProgressBar>,
    /// Bytes not handed to the bar yet.
    pending: u64,
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
        let drawn = allowed && total > THRESHOLD && std::io::stderr().is_terminal();
        let bar = drawn.then(|| {
            let target = ProgressDrawTarget::stderr_with_hz(REDRAW_HZ);
            ProgressBar::with_draw_target(Some(total), target).with_style(style())
        });
        Progress { bar, pending: 0 }
    }

    /// Counts `n` more bytes read.
    ///
    /// ```
    /// let mut p = shadow_cli::progress::Progress::new(10, false);
    /// p.add(10);
    /// ```
    #[inline]
    pub fn add(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            self.pending += n;
            if self.pending >= BATCH {
                bar.inc(std::mem::take(&mut self.pending));
            }
        }
    }

    /// Erases the bar.
    ///
    /// ```
    /// shadow_cli::progress::Progress::new(10, false).finish();
    /// ```
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The bar's look, one frame: `[=========>          ]  45.1/100.0 MB   87.2 MB/s` (30 columns
/// of bar, decimal megabytes, the mean rate since the start).
///
/// ```
/// let bar = indicatif::ProgressBar::hidden().with_style(shadow_cli::progress::style());
/// # let _ = bar;
/// ```
pub fn style() -> ProgressStyle {
    ProgressStyle::with_template("[{bar:30}] {done_mb:>5}/{total_mb} MB {mb_per_sec:>6} MB/s")
        .expect("a valid template")
        .progress_chars("=> ")
        .with_key(
            "done_mb",
            |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}", s.pos() as f64 / 1e6);
            },
        )
        .with_key(
            "total_mb",
            |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}", s.len().unwrap_or(0) as f64 / 1e6);
            },
        )
        .with_key(
            "mb_per_sec",
            |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let rate = s.pos() as f64 / 1e6 / s.elapsed().as_secs_f64().max(1e-6);
                let _ = write!(w, "{rate:.1}");
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.is_empty() {
                self.0.lock().unwrap().push(s.to_owned());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The last line drawn (blank writes pad the rest of a line).
    fn last_frame(screen: &Screen) -> String {
        let frames = screen.0.lock().unwrap();
        let frame = frames.iter().rev().find(|f| !f.trim().is_empty());
        frame.expect("a frame").trim_end().to_owned()
    }

    #[test]
    fn a_frame_shows_the_bar_the_megabytes_and_the_rate() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(100_000_000),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        )
        .with_style(style());
        bar.set_position(50_000_000);
        bar.force_draw();
        let frame = last_frame(&screen);
        let frame = frame.as_str();
        let (head, rate) = frame.split_at(frame.len() - "MB/s".len());
        assert_eq!(rate, "MB/s", "{frame:?}");
        assert!(
            head.starts_with("[===============>              ]  50.0/100.0 MB "),
            "{frame:?}"
        );
        let mb_s: f64 = head.rsplit("MB ").next().unwrap().trim().parse().unwrap();
        assert!(mb_s > 0.0, "{frame:?}");
        bar.set_position(100_000_000);
        bar.force_draw();
        let frame = last_frame(&screen);
        let full = format!("[{}] 100.0/100.0 MB", "=".repeat(30));
        assert!(frame.starts_with(&full), "{frame:?}");
    }

    #[test]
    fn small_or_unwanted_inputs_get_no_bar() {
        assert!(Progress::new(THRESHOLD, true).bar.is_none());
        assert!(Progress::new(THRESHOLD + 1, false).bar.is_none());
    }
}
