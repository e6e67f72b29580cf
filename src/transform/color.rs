//! `ColorJitter`, mmaction2 0.x (`augmentations.py`; CDAR adds `p`), semantics §5.

use rand::{Rng, RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::frame::Frame;

/// `ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1, p=1.0)`: one draw of
/// factors per sample — b, c, s ~ U[1−v, 1+v], h ~ U[−hue, hue] — applied to every frame in float32
/// in an op order fixed at construction (mmaction2 draws a permutation once; vpipe draws it from
/// seed 0 so every worker and run agrees). With `p` < 1 the sample is left alone when U[0,1) > p.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColorJitter {
    /// Brightness range v: factor in [1−v, 1+v].
    #[serde(default = "half")]
    pub brightness: f32,
    /// Contrast range.
    #[serde(default = "half")]
    pub contrast: f32,
    /// Saturation range.
    #[serde(default = "half")]
    pub saturation: f32,
    /// Hue shift range, ≤ 0.5 (fraction of the colour wheel).
    #[serde(default = "tenth")]
    pub hue: f32,
    /// Probability of jittering a sample (CDAR).
    #[serde(default = "one")]
    pub p: f32,
}

fn half() -> f32 {
    0.5
}
fn tenth() -> f32 {
    0.1
}
fn one() -> f32 {
    1.0
}

/// The factors drawn for one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    /// Brightness jitter: factor in [max(0, 1 − b), 1 + b].
    pub brightness: f32,
    /// Contrast jitter: factor in [max(0, 1 − c), 1 + c].
    pub contrast: f32,
    /// Saturation jitter: factor in [max(0, 1 − s), 1 + s].
    pub saturation: f32,
    /// Hue jitter: shift in [−h, h] (h ≤ 0.5).
    pub hue: f32,
    /// Op order: indices into [brightness, contrast, saturation, hue].
    pub order: [usize; 4],
}

impl ColorJitter {
    /// Draws this sample's factors, or `None` when the `p` draw skips it.
    pub fn draw(&self, rng: &mut dyn RngCore) -> Option<Jitter> {
        if self.p < 1.0 && rng.random::<f32>() > self.p {
            return None;
        }
        let mut f = |v: f32| if v > 0.0 { rng.random_range(1.0 - v..1.0 + v) } else { 1.0 };
        let (brightness, contrast, saturation) = (f(self.brightness), f(self.contrast), f(self.saturation));
        let hue = if self.hue > 0.0 { rng.random_range(-self.hue..self.hue) } else { 0.0 };
        let mut order = [0, 1, 2, 3];
        rand::seq::SliceRandom::shuffle(&mut order[..], &mut rand_pcg::Pcg64::seed_from_u64(0));
        Some(Jitter { brightness, contrast, saturation, hue, order })
    }
}

/// 0.2989 R + 0.587 G + 0.114 B.
fn gray(p: &[f32]) -> f32 {
    0.2989 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

impl Jitter {
    /// Applies the factors to one RGB frame; output trunc(clip(x, 0, 255)).
    pub fn apply(&self, f: &Frame) -> Frame {
        let mut x: Vec<f32> = f.data.iter().map(|&v| v as f32).collect();
        for &op in &self.order {
            match op {
                0 if self.brightness != 1.0 => x.iter_mut().for_each(|v| *v *= self.brightness),
                1 if self.contrast != 1.0 => {
                    let mean = x.chunks_exact(3).map(gray).sum::<f32>() / (x.len() / 3).max(1) as f32;
                    x.iter_mut().for_each(|v| *v = self.contrast * *v + (1.0 - self.contrast) * mean);
                }
                2 if self.saturation != 1.0 => {
                    for p in x.chunks_exact_mut(3) {
                        let g = gray(p);
                        p.iter_mut().for_each(|v| *v = self.saturation * *v + (1.0 - self.saturation) * g);
                    }
                }
                3 if self.hue != 0.0 => {
                    let shift = (255.0 * self.hue) as i32; // trunc, OpenCV H units are degrees / 2
                    for p in x.chunks_exact_mut(3) {
                        let rgb = [0, 1, 2].map(|c| p[c].clamp(0.0, 255.0) as u8);
                        let (h, s, v) = rgb_to_hsv(rgb);
                        let h = (h as i32 + shift).rem_euclid(180) as u8;
                        let out = hsv_to_rgb(h, s, v);
                        (0..3).for_each(|c| p[c] = out[c] as f32);
                    }
                }
                _ => {}
            }
        }
        let mut data = crate::frame::buffer(x.len());
        data.extend(x.iter().map(|v| v.clamp(0.0, 255.0) as u8));
        Frame::new(f.width, f.height, data)
    }
}

/// OpenCV `COLOR_RGB2HSV` for 8-bit: H in [0, 180) (degrees / 2), S and V in [0, 255], rounded.
fn rgb_to_hsv([r, g, b]: [u8; 3]) -> (u8, u8, u8) {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let v = r.max(g).max(b);
    let d = v - r.min(g).min(b);
    let s = if v > 0.0 { 255.0 * d / v } else { 0.0 };
    let h = if d == 0.0 {
        0.0
    } else if v == r {
        60.0 * (g - b) / d
    } else if v == g {
        120.0 + 60.0 * (b - r) / d
    } else {
        240.0 + 60.0 * (r - g) / d
    };
    let h = if h < 0.0 { h + 360.0 } else { h };
    (((h / 2.0).round() as u32 % 180) as u8, s.round() as u8, v as u8)
}

/// OpenCV `COLOR_HSV2RGB` for 8-bit input (H in degrees / 2), rounded.
fn hsv_to_rgb(h: u8, s: u8, v: u8) -> [u8; 3] {
    let (h, s, v) = (h as f32 * 2.0 / 60.0, s as f32 / 255.0, v as f32);
    let i = h.floor() as i32 % 6;
    let f = h - h.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r, g, b].map(|c| c.round().clamp(0.0, 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jitter(b: f32, c: f32, s: f32, h: f32) -> Jitter {
        Jitter { brightness: b, contrast: c, saturation: s, hue: h, order: [0, 1, 2, 3] }
    }

    #[test]
    fn single_ops_follow_the_formulas() {
        let f = Frame::new(2, 1, vec![100, 50, 200, 10, 20, 30]);
        assert_eq!(jitter(1.5, 1.0, 1.0, 0.0).apply(&f).data, vec![150, 75, 255, 15, 30, 45]);
        // Saturation 0: every channel becomes the pixel's gray value (trunc).
        let g0 = gray(&[100.0, 50.0, 200.0]);
        assert_eq!(jitter(1.0, 1.0, 0.0, 0.0).apply(&f).data[..3], [g0 as u8; 3]);
        // Contrast 0: every value becomes the frame's mean gray.
        let m = (g0 + gray(&[10.0, 20.0, 30.0])) / 2.0;
        assert!(jitter(1.0, 0.0, 1.0, 0.0).apply(&f).data.iter().all(|&v| v == m as u8));
        // Identity factors change nothing.
        assert_eq!(jitter(1.0, 1.0, 1.0, 0.0).apply(&f), f);
    }

    #[test]
    fn hsv_round_trip_and_hue_shift() {
        for rgb in [[255u8, 0, 0], [0, 255, 0], [0, 0, 255], [200, 100, 50], [0, 0, 0], [255, 255, 255]] {
            let (h, s, v) = rgb_to_hsv(rgb);
            let back = hsv_to_rgb(h, s, v);
            assert!(rgb.iter().zip(back).all(|(a, b)| a.abs_diff(b) <= 3), "{rgb:?} → {back:?}");
        }
        assert_eq!(rgb_to_hsv([0, 255, 0]).0, 60); // 120° / 2
                                                   // hue 1/3 shifts H by trunc(255/3) = 85 OpenCV units = 170°: red becomes HSV(170°, 1, 1).
        let red = Frame::new(1, 1, vec![255, 0, 0]);
        assert_eq!(jitter(1.0, 1.0, 1.0, 1.0 / 3.0).apply(&red).data, vec![0, 255, 212]);
    }

    #[test]
    fn draws_stay_in_range_and_p_skips() {
        let cj = ColorJitter { brightness: 0.5, contrast: 0.5, saturation: 0.5, hue: 0.1, p: 1.0 };
        let mut r = rand_pcg::Pcg64::seed_from_u64(0);
        for _ in 0..100 {
            let j = cj.draw(&mut r).unwrap();
            assert!((0.5..1.5).contains(&j.brightness) && (-0.1..0.1).contains(&j.hue));
            assert_eq!(j.order, cj.draw(&mut r).unwrap().order, "op order is fixed");
        }
        let never = ColorJitter { p: 0.0, ..cj };
        assert!((0..20).all(|_| never.draw(&mut r).is_none()));
    }
}
