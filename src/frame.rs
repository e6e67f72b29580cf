//! The decoded image every stage passes on, and the pool its buffers are recycled through.
//! Imports nothing of the crate, so every layer can use it.
//!
//! Frame buffers are recycled: a dropped [`Frame`] hands its buffer to its thread's pool and
//! every producer of frames (decoders, crops, flips, resizes, colour jitter) takes its output
//! buffer from it with [`buffer`]. A loader worker decodes, transforms and drops one sample's
//! frames on one thread, and frames of one dataset come in a few sizes (decoded, resized,
//! cropped), so once its pool holds one sample's frames a steady worker allocates no frame memory;
//! [`pool_stats`] counts fresh and reused buffers (process-wide) to show it. Per-thread pools need
//! no lock on the hot path.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One decoded image: `u8`, interleaved HWC, rows packed (stride = `channels * width` bytes).
/// RGB (3 channels) for video and RGB rawframes; grayscale (1 channel) for optical-flow
/// rawframes (`x_00001.jpg`, `y_00001.jpg`). Its buffer returns to the frame pool when the frame
/// is dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// 3 (RGB) or 1 (grayscale flow component).
    pub channels: usize,
    /// `height * width * channels` bytes, row-major; RGB order for colour frames.
    pub data: Vec<u8>,
}

impl Frame {
    /// An RGB frame of `width`×`height` pixels from packed RGB bytes.
    ///
    /// # Panics
    /// When `data.len() != width * height * 3`.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Self {
        Self::with_channels(width, height, 3, data)
    }

    /// A grayscale frame (one flow component) of `width`×`height` pixels.
    ///
    /// # Panics
    /// When `data.len() != width * height`.
    pub fn gray(width: usize, height: usize, data: Vec<u8>) -> Self {
        Self::with_channels(width, height, 1, data)
    }

    /// A frame with `channels` interleaved channels (1 or 3).
    ///
    /// # Panics
    /// When `channels` is not 1 or 3, or `data.len() != width * height * channels`.
    pub fn with_channels(width: usize, height: usize, channels: usize, data: Vec<u8>) -> Self {
        assert!(channels == 1 || channels == 3, "frames have 1 or 3 channels, not {channels}");
        assert_eq!(data.len(), width * height * channels, "frame buffer size");
        Frame { width, height, channels, data }
    }

    /// A 0×0 RGB frame whose buffer a decoder fills in place.
    pub fn empty() -> Self {
        Frame { width: 0, height: 0, channels: 3, data: Vec::new() }
    }
}

impl Clone for Frame {
    /// A copy whose buffer comes from the pool.
    fn clone(&self) -> Self {
        let mut data = buffer(self.data.len());
        data.extend_from_slice(&self.data);
        Frame { data, ..*self }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

/// Idle buffers by capacity, so a request takes the smallest one that holds it.
struct Idle {
    by_capacity: BTreeMap<usize, Vec<Vec<u8>>>,
    count: usize,
    max: usize,
}

/// Idle buffers a thread keeps before its stage sizes its pool ([`reserve_pool`]).
const DEFAULT_IDLE: usize = 64;

thread_local! {
    static IDLE: RefCell<Idle> = const { RefCell::new(Idle { by_capacity: BTreeMap::new(), count: 0, max: DEFAULT_IDLE }) };
}
static FRESH: AtomicU64 = AtomicU64::new(0);
static REUSED: AtomicU64 = AtomicU64::new(0);

impl Idle {
    /// The smallest idle buffer holding `len` bytes.
    fn take(&mut self, len: usize) -> Option<Vec<u8>> {
        let cap = *self.by_capacity.range(len..).next()?.0;
        let bucket = self.by_capacity.get_mut(&cap)?;
        let buf = bucket.pop();
        if bucket.is_empty() {
            self.by_capacity.remove(&cap);
        }
        self.count -= 1;
        buf
    }

    /// Keeps `buf`; when the pool is full it replaces the smallest idle buffer if it is larger,
    /// since a large buffer serves every request and a small one only some (videos of one
    /// dataset differ in size).
    fn put(&mut self, buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        if self.count >= self.max {
            match self.by_capacity.keys().next() {
                Some(&smallest) if smallest < buf.capacity() => drop(self.take(smallest)),
                _ => return,
            }
        }
        self.count += 1;
        self.by_capacity.entry(buf.capacity()).or_default().push(buf);
    }
}

/// An empty buffer with room for at least `len` bytes: the smallest idle one that fits, else a
/// new allocation.
pub fn buffer(len: usize) -> Vec<u8> {
    match IDLE.with_borrow_mut(|idle| idle.take(len)) {
        Some(mut buf) => {
            REUSED.fetch_add(1, Ordering::Relaxed);
            buf.clear();
            buf
        }
        None => {
            FRESH.fetch_add(1, Ordering::Relaxed);
            Vec::with_capacity(len)
        }
    }
}

/// Hands `buf` back to this thread's pool; dropped when the pool already holds as many idle
/// buffers as it was sized for (or the thread is exiting).
pub fn recycle(buf: Vec<u8>) {
    let _ = IDLE.try_with(|idle| idle.borrow_mut().put(buf));
}

/// Lets this thread's pool keep at least `buffers` idle buffers (never lowers it): a worker calls
/// it with the frames one sample holds at once, so all of them can be recycled.
pub fn reserve_pool(buffers: usize) {
    IDLE.with_borrow_mut(|idle| idle.max = idle.max.max(buffers));
}

/// Frame buffers handed out since the process started: `fresh` newly allocated, `reused` from
/// the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers allocated because no idle one fitted.
    pub fresh: u64,
    /// Buffers taken from the pool.
    pub reused: u64,
}

/// The pools' counters, summed over every thread of the process.
pub fn pool_stats() -> PoolStats {
    PoolStats { fresh: FRESH.load(Ordering::Relaxed), reused: REUSED.load(Ordering::Relaxed) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_takes_the_smallest_idle_buffer_that_holds_it() {
        let mut idle = Idle { by_capacity: BTreeMap::new(), count: 0, max: 3 };
        for cap in [100, 400, 200, 50, 300] {
            idle.put(Vec::with_capacity(cap));
        }
        assert_eq!(idle.count, 3, "a full pool drops the smaller buffers (50, then 100 for 300)");
        assert_eq!(idle.take(150).map(|b| b.capacity()), Some(200));
        assert_eq!(idle.take(401), None, "nothing holds 401 bytes");
        assert_eq!(idle.take(1).map(|b| b.capacity()), Some(300));
        assert_eq!(idle.take(1).map(|b| b.capacity()), Some(400));
        assert_eq!((idle.count, idle.take(1)), (0, None));
    }

    #[test]
    fn a_clone_is_equal_and_owns_its_buffer() {
        let f = Frame::gray(3, 1, vec![1, 2, 3]);
        let g = f.clone();
        assert_eq!(f, g);
        assert_ne!(f.data.as_ptr(), g.data.as_ptr());
    }
}
