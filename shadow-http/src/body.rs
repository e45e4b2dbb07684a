//! The bodies the layer puts around the primary's: [`RequestBody`] keeps a copy of a mirrored
//! request's body as the primary reads it, [`ResponseBody`] passes the primary's response to the
//! client frame by frame, unchanged and at once, keeping a copy (reference-counted chunks, up to
//! the route's limit) for the comparison, which starts when the stream ends.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

pin_project_lite::pin_project! {
    /// The request body the wrapped (primary) service gets: its own, passed through, and copied
    /// when the request is mirrored; or, for the primary's second run (noise cancellation), the
    /// copy replayed.
    ///
    /// ```
    /// use http_body::Body;
    /// let b = shadow_http::RequestBody::<http_body_util::Empty<bytes::Bytes>>::replay("abc".into());
    /// assert_eq!(b.size_hint().exact(), Some(3));
    /// ```
    pub struct RequestBody<B> {
        #[pin]
        inner: Option<B>,
        replay: Option<Bytes>,
        copy: Option<Arc<Mutex<Copied>>>,
    }
}

/// A request body's copy as the primary reads it.
#[derive(Debug, Default)]
pub(crate) struct Copied {
    pub(crate) chunks: Vec<Bytes>,
    pub(crate) len: usize,
    pub(crate) limit: usize,
    /// The body ended (every byte was read).
    pub(crate) complete: bool,
    /// It went past the limit: the copy was dropped.
    pub(crate) over: bool,
    pub(crate) failed: bool,
    /// `chunks` holds the whole body as one chunk.
    joined: bool,
}

impl Copied {
    pub(crate) fn new(limit: usize) -> Arc<Mutex<Copied>> {
        Arc::new(Mutex::new(Copied {
            limit,
            ..Copied::default()
        }))
    }

    fn data(&mut self, b: &Bytes) {
        if self.over {
            return;
        }
        self.len += b.len();
        if self.len > self.limit {
            self.over = true;
            self.chunks = Vec::new();
        } else {
            self.chunks.push(b.clone());
        }
    }

    /// Whether the body was read to its end within the limit.
    pub(crate) fn whole(&self) -> bool {
        self.complete && !self.over && !self.failed
    }

    /// The whole body (joined once, then shared), if it was read to its end within the limit.
    pub(crate) fn bytes(&mut self) -> Option<Bytes> {
        if !self.whole() {
            return None;
        }
        if !self.joined {
            let one = join(std::mem::take(&mut self.chunks), self.len);
            self.chunks.push(one);
            self.joined = true;
        }
        Some(self.chunks.first().cloned().unwrap_or_default())
    }
}

/// Bodies up to this size are copied out of the connection's read buffer when kept: a chunk
/// shares its allocation with that buffer, which would otherwise stay alive as long as the
/// candidate runs.
const COPY_SMALL: usize = 64 << 10;

/// The chunks as one `Bytes` (copied, unless one chunk larger than [`COPY_SMALL`]).
pub(crate) fn join(chunks: Vec<Bytes>, len: usize) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 if len > COPY_SMALL => chunks.into_iter().next().unwrap_or_default(),
        1 => Bytes::copy_from_slice(&chunks[0]),
        _ => {
            let mut v = Vec::with_capacity(len);
            for c in chunks {
                v.extend_from_slice(&c);
            }
            Bytes::from(v)
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<B> RequestBody<B> {
    /// The request's own body, passed through.
    pub(crate) fn plain(body: B) -> Self {
        RequestBody {
            inner: Some(body),
            replay: None,
            copy: None,
        }
    }

    /// The request's own body, copied into `copy` as it is read.
    pub(crate) fn copied(body: B, copy: Arc<Mutex<Copied>>) -> Self {
        RequestBody {
            inner: Some(body),
            replay: None,
            copy: Some(copy),
        }
    }

    /// A body replayed from a copy (the primary's second run).
    pub fn replay(bytes: Bytes) -> Self {
        RequestBody {
            inner: None,
            replay: Some(bytes),
            copy: None,
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(
                this.replay
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            );
        };
        let end = inner.is_end_stream();
        let polled = ready!(inner.poll_frame(cx));
        if let Some(copy) = this.copy.as_ref() {
            let mut c = lock(copy);
            match &polled {
                Some(Ok(frame)) => {
                    if let Some(d) = frame.data_ref() {
                        c.data(d);
                    }
                }
                Some(Err(_)) => c.failed = true,
                None => c.complete = true,
            }
            if end {
                c.complete = true;
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(b) => {
                let end = b.is_end_stream();
                if end {
                    if let Some(copy) = &self.copy {
                        lock(copy).complete = true;
                    }
                }
                end
            }
            None => self.replay.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(b) => b.size_hint(),
            None => SizeHint::with_exact(self.replay.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// What a response body tells the layer as it streams.
pub(crate) trait Watch: Send {
    /// A data frame went to the client. Returns `false` once it wants no more (it gave up).
    fn data(&mut self, chunk: &Bytes) -> bool;
    /// The stream ended: the copy is complete. May be polled again until it returns `Ready`.
    fn end(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    /// The stream failed.
    fn failed(&mut self);
}

pin_project_lite::pin_project! {
    /// The response body the client gets: the primary's, frame for frame. While the request is
    /// mirrored it keeps the data chunks (their reference counts, not copies) up to the route's
    /// body limit; when the stream ends, the comparison is handed to the shadow lane.
    ///
    /// ```
    /// use http_body::Body;
    /// let b = shadow_http::ResponseBody::new(http_body_util::Full::new(bytes::Bytes::from("x")));
    /// assert_eq!(b.size_hint().exact(), Some(1));
    /// ```
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        watch: Option<Box<dyn Watch>>,
        // The inner body ended and the watcher is finishing.
        ended: bool,
    }
}

impl<B> ResponseBody<B> {
    /// A body passed through untouched.
    pub fn new(inner: B) -> Self {
        ResponseBody {
            inner,
            watch: None,
            ended: false,
        }
    }

    pub(crate) fn watched(inner: B, watch: Box<dyn Watch>) -> Self {
        ResponseBody {
            inner,
            watch: Some(watch),
            ended: false,
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        if *this.ended {
            if let Some(w) = this.watch.as_mut() {
                ready!(w.end(cx));
                *this.watch = None;
            }
            return Poll::Ready(None);
        }
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        let Some(w) = this.watch.as_mut() else {
            return Poll::Ready(polled);
        };
        match &polled {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    if !w.data(d) {
                        *this.watch = None;
                        return Poll::Ready(polled);
                    }
                }
                if this.inner.is_end_stream() {
                    // The frame goes out now; the comparison is handed over when the client
                    // polls for the end (or at once, if it never does: `is_end_stream`).
                    *this.ended = true;
                    if let Poll::Ready(()) = w.end(cx) {
                        *this.watch = None;
                    }
                }
            }
            Some(Err(_)) => {
                w.failed();
                *this.watch = None;
            }
            None => {
                *this.ended = true;
                ready!(w.end(cx));
                *this.watch = None;
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        if self.ended {
            return self.watch.is_none();
        }
        self.inner.is_end_stream() && self.watch.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
