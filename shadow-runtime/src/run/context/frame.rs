//! The frame of the side running on this thread ([`Frame`]).

use std::cell::Cell;

use super::{Role, WriteMode};

/// The context of the side running on this thread: plain values, so that entering it costs a
/// few thread-local writes and no allocation (the runtime enters one around every shadow run).
///
/// The experiment's name and one word of flags (role, write mode, whether the frame has a key
/// and a shared [`Context`](super::Context) in [`EXTRA`](super::EXTRA)); refusals are counted in
/// the shared context, never in the frame. The flags are one field on purpose: the frame is
/// written and read back within a few nanoseconds on every entry, and a word read back from
/// several narrower stores cannot be forwarded from the store buffer (a stall each time: with one
/// byte per flag and the refusals in the frame, `perf annotate` put about a sixth of an inline
/// shadowed call's samples on these copies).
#[derive(Clone, Copy)]
pub(super) struct Frame {
    pub(super) experiment: &'static str,
    pub(super) flags: u64,
}

/// [`Frame::flags`]: set in every frame (a flags word of zero in [`FLAGS`] is no frame).
const PRESENT: u64 = 1 << 5;
/// [`Frame::flags`]: the shadow role (else served).
const SHADOW: u64 = 1;
/// The frame has an idempotency key (in [`EXTRA`](super::EXTRA)).
pub(super) const KEYED: u64 = 1 << 1;
/// The frame has a shared [`Context`](super::Context) (in [`EXTRA`](super::EXTRA)), where its
/// refusals are counted: one handed out by [`current`](super::current) during the frame (or made
/// by its first refused write), or the one entered.
pub(super) const SHARED: u64 = 1 << 2;
/// The write mode, in the bits from here ([`WriteMode`]'s index).
const WRITES_SHIFT: u32 = 3;

impl Frame {
    pub(super) fn new(
        experiment: &'static str,
        role: Role,
        writes: WriteMode,
        keyed: bool,
        shared: bool,
    ) -> Frame {
        // The declaration order, which `writes()` reads back.
        let mode = writes as u64;
        Frame {
            experiment,
            flags: PRESENT
                | u64::from(role == Role::Shadow)
                | if keyed { KEYED } else { 0 }
                | if shared { SHARED } else { 0 }
                | mode << WRITES_SHIFT,
        }
    }

    pub(super) fn role(self) -> Role {
        if self.flags & SHADOW != 0 {
            Role::Shadow
        } else {
            Role::Served
        }
    }

    pub(super) fn writes(self) -> WriteMode {
        match (self.flags >> WRITES_SHIFT) & 3 {
            0 => WriteMode::Production,
            1 => WriteMode::Refuse,
            2 => WriteMode::DryRun,
            _ => WriteMode::Separate,
        }
    }

    pub(super) fn keyed(self) -> bool {
        self.flags & KEYED != 0
    }

    pub(super) fn shared(self) -> bool {
        self.flags & SHARED != 0
    }
}

thread_local! {
    /// The current frame's flags; zero when no frame is current.
    static FLAGS: Cell<u64> = const { Cell::new(0) };
    /// The current frame's experiment (meaningless when no frame is current).
    static NAME: Cell<&'static str> = const { Cell::new("") };
}

/// The current frame on this thread, kept as two thread-locals of one and two words rather than
/// one `Cell<Option<Frame>>`: an `Option<Frame>` is three words copied as a block (16-byte loads)
/// that were often written a word at a time (a `None` writes one word), and such a load cannot be
/// forwarded from the store buffer: it stalled on every entry and exit of a shadow run
/// (`perf annotate`). Each part here is read and written whole. `Err` once the thread-locals are
/// gone (a thread being torn down).
#[inline(always)]
pub(super) fn get() -> Result<Option<Frame>, std::thread::AccessError> {
    let flags = FLAGS.try_with(Cell::get)?;
    if flags & PRESENT == 0 {
        return Ok(None);
    }
    Ok(Some(Frame {
        experiment: NAME.try_with(Cell::get)?,
        flags,
    }))
}

/// Makes `frame` the current one (or none); returns the previous one.
#[inline(always)]
pub(super) fn replace(frame: Option<Frame>) -> Result<Option<Frame>, std::thread::AccessError> {
    let (flags, name) = match frame {
        Some(f) => (f.flags, f.experiment),
        None => (0, ""),
    };
    let prev = FLAGS.try_with(|c| c.replace(flags))?;
    let prev_name = NAME.try_with(|c| c.replace(name))?;
    Ok((prev & PRESENT != 0).then_some(Frame {
        experiment: prev_name,
        flags: prev,
    }))
}
