//! The configured transform steps and the uint8 clip they act on.

use anyhow::{anyhow, bail, Result};
use fast_image_resize::{
    images::{Image, ImageRef},
    FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use serde::{Deserialize, Serialize};

use super::geometry::{self, CropBox};
use crate::decode::Frame;

/// The frames of one sample, in mmaction2 order: `num_crops` blocks (crop-major), each of
/// `num_clips` clips of `clip_len` frames. All frames share one size after the first crop/resize.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// `num_crops · num_clips · clip_len` RGB frames, or twice as many grayscale frames for flow
    /// (x and y images interleaved: `[x0, y0, x1, y1, …]`, mmaction2 0.x).
    pub frames: Vec<Frame>,
    /// Frames per clip (L).
    pub clip_len: usize,
    /// Clips per crop (K, doubled by `twice_sample`).
    pub num_clips: usize,
    /// Spatial crops per clip (1, or 3 after `ThreeCrop`).
    pub num_crops: usize,
}

impl Clip {
    /// Views of this sample: `num_crops · num_clips`, the rows a model emits per sample.
    pub fn num_views(&self) -> usize {
        self.num_crops * self.num_clips
    }
}

/// A size given as one number (square) or `[w, h]`, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size {
    Square(usize),
    Wh([usize; 2]),
}

impl Size {
    /// (width, height) in pixels.
    pub fn wh(self) -> (usize, usize) {
        match self {
            Size::Square(s) => (s, s),
            Size::Wh([w, h]) => (w, h),
        }
    }
}

/// `Resize` interpolation (mmcv names). Bilinear is OpenCV-like: fixed kernel, no antialiasing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    #[default]
    Bilinear,
    Nearest,
    Bicubic,
}

/// `Resize(scale, keep_ratio=True, interpolation='bilinear')`; `scale: [-1, 256]` resizes the
/// short side to 256 (see [`geometry::resize_size`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    /// Target (w, h) in pixels; −1 = unbounded.
    pub scale: [i64; 2],
    /// Keep the aspect ratio (mmcv `rescale_size`); else resize to exactly `scale`.
    #[serde(default = "yes")]
    pub keep_ratio: bool,
    /// Interpolation.
    #[serde(default)]
    pub interpolation: Interpolation,
}

/// `CenterCrop(crop_size)`: one centred crop (left (W−w)//2, top (H−h)//2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterCrop {
    /// Crop size in pixels: `224` or `[w, h]`.
    pub crop_size: Size,
}

/// `ThreeCrop(crop_size)`: three crops along the long side; triples the views (crop-major).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreeCrop {
    /// Crop size in pixels; must equal the image's height or width.
    pub crop_size: Size,
}

/// One spatial step of a pipeline, with mmaction2's names (`type:` in YAML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Transform {
    Resize(Resize),
    CenterCrop(CenterCrop),
    ThreeCrop(ThreeCrop),
}

fn yes() -> bool {
    true
}

impl Transform {
    /// Applies the step to `clip`.
    ///
    /// # Errors
    /// A crop that does not fit (ThreeCrop), a zero-sized resize, or a second multi-crop.
    pub fn apply(&self, clip: Clip) -> Result<Clip> {
        match self {
            Transform::Resize(Resize { scale, keep_ratio, interpolation }) => {
                let Some(first) = clip.frames.first() else { return Ok(clip) };
                let (w, h) = geometry::resize_size(first.width, first.height, (scale[0], scale[1]), *keep_ratio);
                if w == 0 || h == 0 {
                    bail!("Resize to {w}x{h} from {}x{}: empty output", first.width, first.height);
                }
                let mut resizer = Resizer::new();
                let frames = clip.frames.iter().map(|f| resize_frame(&mut resizer, f, w, h, *interpolation)).collect::<Result<_>>()?;
                Ok(Clip { frames, ..clip })
            }
            Transform::CenterCrop(CenterCrop { crop_size }) => {
                let Some(first) = clip.frames.first() else { return Ok(clip) };
                let b = geometry::center_crop(first.width, first.height, crop_size.wh());
                let frames = clip.frames.iter().map(|f| crop(f, b)).collect();
                Ok(Clip { frames, ..clip })
            }
            Transform::ThreeCrop(ThreeCrop { crop_size }) => {
                if clip.num_crops != 1 {
                    bail!("ThreeCrop after another multi-crop step");
                }
                let Some(first) = clip.frames.first() else { return Ok(clip) };
                let boxes = geometry::three_crop(first.width, first.height, crop_size.wh()).map_err(|e| anyhow!(e))?;
                let frames = boxes.iter().flat_map(|&b| clip.frames.iter().map(move |f| crop(f, b))).collect();
                Ok(Clip { frames, num_crops: 3, ..clip })
            }
        }
    }
}

/// Resizes one frame (RGB or grayscale) to `w`×`h` pixels with fast_image_resize, without
/// antialiasing (OpenCV `cv2.resize` style); the same size returns a copy.
///
/// # Errors
/// A zero-sized input or output.
pub fn resize_frame(resizer: &mut Resizer, f: &Frame, w: usize, h: usize, interpolation: Interpolation) -> Result<Frame> {
    if (f.width, f.height) == (w, h) {
        return Ok(f.clone());
    }
    let alg = match interpolation {
        Interpolation::Bilinear => ResizeAlg::Interpolation(FilterType::Bilinear),
        Interpolation::Bicubic => ResizeAlg::Interpolation(FilterType::CatmullRom),
        Interpolation::Nearest => ResizeAlg::Nearest,
    };
    let pixel = if f.channels == 1 { PixelType::U8 } else { PixelType::U8x3 };
    let src = ImageRef::new(f.width as u32, f.height as u32, &f.data, pixel)?;
    let mut dst = Image::new(w as u32, h as u32, pixel);
    resizer.resize(&src, &mut dst, &ResizeOptions::new().resize_alg(alg))?;
    Ok(Frame::with_channels(w, h, f.channels, dst.into_vec()))
}

fn crop(f: &Frame, b: CropBox) -> Frame {
    let c = f.channels;
    let mut data = Vec::with_capacity(b.w * b.h * c);
    for row in b.y..b.y + b.h {
        let start = (row * f.width + b.x) * c;
        data.extend_from_slice(&f.data[start..start + b.w * c]);
    }
    Frame::with_channels(b.w, b.h, c, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame whose red channel is the column and green channel the row.
    fn ramp(w: usize, h: usize) -> Frame {
        let mut d = Vec::new();
        for y in 0..h {
            for x in 0..w {
                d.extend([x as u8, y as u8, 7]);
            }
        }
        Frame::new(w, h, d)
    }

    fn clip_of(frames: Vec<Frame>) -> Clip {
        let n = frames.len();
        Clip { frames, clip_len: 1, num_clips: n, num_crops: 1 }
    }

    #[test]
    fn center_crop_takes_the_middle_pixels() {
        let out = Transform::CenterCrop(CenterCrop { crop_size: Size::Square(4) }).apply(clip_of(vec![ramp(10, 8)])).unwrap();
        let f = &out.frames[0];
        assert_eq!((f.width, f.height), (4, 4));
        assert_eq!(&f.data[..3], &[3, 2, 7]); // top-left of the crop is pixel (3, 2)
    }

    #[test]
    fn three_crop_is_crop_major() {
        let clip = clip_of(vec![ramp(12, 4), ramp(12, 4)]);
        let out = Transform::ThreeCrop(ThreeCrop { crop_size: Size::Square(4) }).apply(clip).unwrap();
        assert_eq!((out.num_crops, out.frames.len(), out.num_views()), (3, 6, 6));
        let lefts: Vec<u8> = out.frames.iter().map(|f| f.data[0]).collect();
        assert_eq!(lefts, vec![0, 0, 8, 8, 4, 4]); // left, left, right, right, middle, middle
    }

    #[test]
    fn resize_short_side_gives_mmaction2_size_and_keeps_constant_colour() {
        let f = Frame::new(320, 240, [10u8, 200, 30].repeat(320 * 240));
        let t = Transform::Resize(Resize { scale: [-1, 256], keep_ratio: true, interpolation: Interpolation::Bilinear });
        let out = t.apply(clip_of(vec![f])).unwrap();
        assert_eq!((out.frames[0].width, out.frames[0].height), (341, 256));
        assert!(out.frames[0].data.chunks(3).all(|p| p == [10, 200, 30]));
    }
}
