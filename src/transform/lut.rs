//! Level-to-level maps of uint8 RGB frames, shared by RandAugment's and Imgaug's point ops
//! (invert, posterize, solarize, autocontrast, equalize): one rule for the whole frame, or one
//! lookup table per channel built from that channel's histogram.

use crate::frame::Frame;

/// `f` with every byte mapped by `op`.
pub(crate) fn map(f: &Frame, op: impl Fn(u8) -> u8) -> Frame {
    Frame { data: f.data.iter().map(|&v| op(v)).collect(), ..f.clone() }
}

/// `f` with each of its 3 channels mapped through the table `table` builds from that channel's
/// 256-bin histogram (pixel counts per level); `None` leaves the channel as it is.
pub(crate) fn per_channel(f: &Frame, table: impl Fn(&[i64; 256]) -> Option<[u8; 256]>) -> Frame {
    let mut out = f.clone();
    for c in 0..3 {
        let mut hist = [0i64; 256];
        f.data.iter().skip(c).step_by(3).for_each(|&v| hist[v as usize] += 1);
        if let Some(lut) = table(&hist) {
            out.data.iter_mut().skip(c).step_by(3).for_each(|v| *v = lut[*v as usize]);
        }
    }
    out
}

/// The lowest and highest levels present in `hist` (`None` for an empty histogram).
pub(crate) fn level_range(hist: &[i64; 256]) -> Option<(usize, usize)> {
    Some((hist.iter().position(|&n| n > 0)?, hist.iter().rposition(|&n| n > 0)?))
}
