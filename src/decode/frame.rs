/// One decoded image: `u8` RGB, interleaved HWC, rows packed (stride = `3 * width` bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width * 3` bytes, row-major, RGB order.
    pub data: Vec<u8>,
}

impl Frame {
    /// A frame of `width`×`height` pixels from packed RGB bytes.
    ///
    /// # Panics
    /// When `data.len() != width * height * 3`.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), width * height * 3, "RGB frame buffer size");
        Frame { width, height, data }
    }
}
