//! The decoded image every stage passes on. Imports nothing of the crate, so every layer can use it.

/// One decoded image: `u8`, interleaved HWC, rows packed (stride = `channels * width` bytes).
/// RGB (3 channels) for video and RGB rawframes; grayscale (1 channel) for optical-flow
/// rawframes (`x_00001.jpg`, `y_00001.jpg`).
#[derive(Clone, Debug, PartialEq, Eq)]
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
}
