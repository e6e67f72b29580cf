//! JPEG through libjpeg-turbo (the `turbojpeg` crate): rawframe writing and reading.
//!
//! Encoding matches what mmaction2's OpenCV extraction writes (`cv2.imwrite`, baseline JPEG,
//! 4:2:0 chroma for colour, quality 95 by default); decoding matches `cv2.imread` (libjpeg's
//! accurate integer DCT and smooth chroma upsampling, TurboJPEG's defaults).

use std::cell::RefCell;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use turbojpeg::{Compressor, Decompressor, Image, PixelFormat, Subsamp};

use super::Frame;

/// A reusable JPEG encoder at one quality (one per worker thread: it is not `Sync`).
pub struct JpegEncoder {
    compressor: Compressor,
}

impl JpegEncoder {
    /// An encoder at `quality` (1–100; mmaction2/OpenCV default 95).
    ///
    /// # Errors
    /// Quality out of range, or libjpeg-turbo cannot allocate its handle.
    pub fn new(quality: i32) -> Result<Self> {
        if !(1..=100).contains(&quality) {
            bail!("JPEG quality must be 1..=100, got {quality}");
        }
        let mut compressor = Compressor::new()?;
        compressor.set_quality(quality)?;
        Ok(JpegEncoder { compressor })
    }

    /// Encodes `frame` (RGB as YCbCr 4:2:0, grayscale as one-component JPEG) into bytes.
    ///
    /// # Errors
    /// libjpeg-turbo reports a failure (e.g. an image of zero size).
    pub fn encode(&mut self, frame: &Frame) -> Result<Vec<u8>> {
        let (format, subsamp) = if frame.channels == 1 { (PixelFormat::GRAY, Subsamp::Gray) } else { (PixelFormat::RGB, Subsamp::Sub2x2) };
        self.compressor.set_subsamp(subsamp)?;
        let image =
            Image { pixels: frame.data.as_slice(), width: frame.width, pitch: frame.width * frame.channels, height: frame.height, format };
        Ok(self.compressor.compress_to_vec(image)?)
    }
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// Decodes JPEG bytes into a frame with `channels` (3 = RGB, 1 = grayscale; libjpeg-turbo
/// converts between them as `cv2.imread` with `IMREAD_COLOR` / `IMREAD_GRAYSCALE` does).
///
/// # Errors
/// The bytes are not a JPEG libjpeg-turbo can decode.
pub fn decode_jpeg(bytes: &[u8], channels: usize) -> Result<Frame> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Decompressor::new()?);
        }
        let d = slot.as_mut().expect("set above");
        let header = d.read_header(bytes)?;
        let format = if channels == 1 { PixelFormat::GRAY } else { PixelFormat::RGB };
        let (w, h) = (header.width, header.height);
        let mut pixels = crate::frame::buffer(w * h * channels);
        pixels.resize(w * h * channels, 0);
        d.decompress(bytes, Image { pixels: pixels.as_mut_slice(), width: w, pitch: w * channels, height: h, format })?;
        Ok(Frame::with_channels(w, h, channels, pixels))
    })
}

/// Reads and decodes the JPEG file at `path`.
///
/// # Errors
/// A missing or unreadable file (message names it), or undecodable data.
pub fn read_jpeg(path: &Path, channels: usize) -> Result<Frame> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: a FIFO under a frame's name must not block the open; fstat then refuses it
    // (and devices) at no extra path lookup. Regular files ignore the flag.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read frame {}", path.display()))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        anyhow::bail!("frame {} is not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).with_context(|| format!("cannot read frame {}", path.display()))?;
    decode_jpeg(&bytes, channels).map_err(|e| anyhow!("cannot decode JPEG {}: {e:#}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_95_round_trip_is_close_and_keeps_size() {
        // A smooth gradient, like natural video content.
        let (w, h) = (64, 48);
        let data: Vec<u8> = (0..h).flat_map(|y| (0..w).flat_map(move |x| [(x * 4) as u8, (y * 5) as u8, 128])).collect();
        let f = Frame::new(w, h, data);
        let bytes = JpegEncoder::new(95).unwrap().encode(&f).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
        let back = decode_jpeg(&bytes, 3).unwrap();
        assert_eq!((back.width, back.height, back.channels), (w, h, 3));
        let max_err = f.data.iter().zip(&back.data).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(max_err <= 6, "max error {max_err}");
    }

    #[test]
    fn gray_round_trip_and_bad_inputs() {
        let f = Frame::gray(16, 8, (0..128).map(|i| i as u8).collect());
        let bytes = JpegEncoder::new(95).unwrap().encode(&f).unwrap();
        assert_eq!(decode_jpeg(&bytes, 1).unwrap().channels, 1);
        assert!(JpegEncoder::new(0).is_err());
        assert!(decode_jpeg(b"not a jpeg", 3).is_err());
        let msg = format!("{:#}", read_jpeg(Path::new("/nonexistent/img_00001.jpg"), 3).unwrap_err());
        assert!(msg.contains("img_00001.jpg"), "{msg}");
    }
}
