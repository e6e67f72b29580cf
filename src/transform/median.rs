//! Temporal median background (CDAR `extract_median_by_rawframes.py`, semantics §8): the
//! per-pixel, per-channel median of a video's frames, truncated to uint8.

use anyhow::{bail, Result};

use crate::frame::Frame;

/// Which of `total` frames (0-based, sorted) the reference uses: all when `total ≤ max_frames` or
/// `max_frames` is 0, else numpy `linspace(0, total−1, max_frames, dtype=int)`: ⌊i·step⌋ with
/// step = (total−1)/(max_frames−1) in float64, the last index exactly total−1.
/// T=250, max 100 → 0, 2, 5, 7, 10, …, 246, 249.
pub fn median_frame_indices(total: usize, max_frames: usize) -> Vec<usize> {
    if max_frames == 0 || total <= max_frames {
        return (0..total).collect();
    }
    if max_frames == 1 {
        return vec![0];
    }
    let step = (total - 1) as f64 / (max_frames - 1) as f64;
    let mut v: Vec<usize> = (0..max_frames - 1).map(|i| (i as f64 * step).floor() as usize).collect();
    v.push(total - 1);
    v
}

/// Positions processed together: the frames' bytes of one tile stay in cache across the bit passes.
const TILE: usize = 2048;

/// The per-pixel, per-channel median of `frames` (all of one size and channel count): the middle
/// value, or for an even count the mean of the two middle values truncated toward zero — numpy
/// `np.median(stack, axis=0).astype(np.uint8)`.
///
/// Each order statistic is found by a bitwise radix select over the values (8 counting passes per
/// 2 KiB tile, vectorised across pixel positions), which costs far less than reading the frames.
///
/// # Errors
/// No frames, or frames of different sizes.
pub fn temporal_median(frames: &[Frame]) -> Result<Frame> {
    let Some(first) = frames.first() else { bail!("median of no frames") };
    let (w, h, c) = (first.width, first.height, first.channels);
    if let Some(f) = frames.iter().find(|f| (f.width, f.height, f.channels) != (w, h, c)) {
        bail!("frames differ in size: {}x{}x{} and {}x{}x{}", w, h, c, f.width, f.height, f.channels);
    }
    let n = frames.len();
    let len = first.data.len();
    let mut out = crate::frame::buffer(len);
    out.resize(len, 0);
    let (k_lo, k_hi) = ((n - 1) / 2, n / 2);
    let mut lo = vec![0u8; TILE];
    let mut hi = vec![0u8; TILE];
    let mut counts = vec![0u32; TILE];
    for start in (0..len).step_by(TILE) {
        let end = (start + TILE).min(len);
        let m = end - start;
        tile_median(frames, start, m, k_lo, &mut lo[..m], &mut counts[..m]);
        if k_hi != k_lo {
            next_order_statistic(frames, start, m, k_hi, &lo[..m], &mut hi[..m], &mut counts[..m]);
            for (o, (&a, &b)) in out[start..end].iter_mut().zip(lo.iter().zip(&hi)) {
                *o = ((a as u16 + b as u16) / 2) as u8;
            }
        } else {
            out[start..end].copy_from_slice(&lo[..m]);
        }
    }
    Ok(Frame::with_channels(w, h, c, out))
}

/// [`select`] compiled for AVX2 when the CPU has it (32 positions per instruction), else for the
/// baseline target.
fn tile_median(frames: &[Frame], start: usize, m: usize, k: usize, result: &mut [u8], counts: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        unsafe { select_avx2(frames, start, m, k, result, counts) };
        return;
    }
    select(frames, start, m, k, result, counts)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn select_avx2(frames: &[Frame], start: usize, m: usize, k: usize, result: &mut [u8], counts: &mut [u32]) {
    select(frames, start, m, k, result, counts)
}

/// Given `lo`, the `k−1`-th smallest value at each position, the `k`-th: `lo` again when more
/// than `k` values are ≤ `lo`, else the smallest value above it. One pass instead of eight.
fn next_order_statistic(frames: &[Frame], start: usize, m: usize, k: usize, lo: &[u8], out: &mut [u8], counts: &mut [u32]) {
    counts.fill(0);
    let mut above = [u8::MAX; TILE];
    let mut small = [0u8; TILE];
    for run in frames.chunks(255) {
        small[..m].fill(0);
        for f in run {
            let values = &f.data[start..start + m];
            for (((cnt, a), &v), &l) in small[..m].iter_mut().zip(above[..m].iter_mut()).zip(values).zip(lo) {
                *cnt += (v <= l) as u8;
                *a = (*a).min(if v > l { v } else { u8::MAX });
            }
        }
        for (total, &s) in counts.iter_mut().zip(&small[..m]) {
            *total += s as u32;
        }
    }
    for (((o, &cnt), &l), &a) in out.iter_mut().zip(counts.iter()).zip(lo).zip(&above[..m]) {
        *o = if cnt as usize > k { l } else { a };
    }
}

/// The `k`-th smallest (0-based) value at each of the `m` positions from `start`, into `result`:
/// bit by bit from the top, keep a candidate bit when at most `k` values lie below it. Counts are
/// bytes (frames are split into runs of 255) so the comparisons vectorise 32 positions at a time.
#[inline(always)]
fn select(frames: &[Frame], start: usize, m: usize, k: usize, result: &mut [u8], counts: &mut [u32]) {
    result.fill(0);
    let mut cand = [0u8; TILE];
    let mut small = [0u8; TILE];
    for bit in (0..8).rev() {
        counts.fill(0);
        let step = 1u8 << bit;
        for (c, &r) in cand[..m].iter_mut().zip(result.iter()) {
            *c = r | step;
        }
        for run in frames.chunks(255) {
            small[..m].fill(0);
            for f in run {
                let values = &f.data[start..start + m];
                for ((cnt, &v), &c) in small[..m].iter_mut().zip(values).zip(&cand[..m]) {
                    *cnt += (v < c) as u8;
                }
            }
            for (total, &s) in counts.iter_mut().zip(&small[..m]) {
                *total += s as u32;
            }
        }
        for ((r, &cnt), &c) in result.iter_mut().zip(counts.iter()).zip(&cand[..m]) {
            if cnt as usize <= k {
                *r = c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_selection_matches_the_reference() {
        let v = median_frame_indices(250, 100);
        assert_eq!(v[..8], [0, 2, 5, 7, 10, 12, 15, 17]);
        assert_eq!(v[96..], [241, 243, 246, 249]);
        let v = median_frame_indices(1000, 100);
        assert_eq!((v[0], v[1], v[2], v[97], v[98], v[99]), (0, 10, 20, 978, 988, 999));
        let v = median_frame_indices(101, 100);
        assert_eq!(v, (0..99).chain([100]).collect::<Vec<_>>()); // 99 skipped
        assert_eq!(median_frame_indices(109, 100)[55], 59); // float effect: exact value 60
        assert_eq!(median_frame_indices(72, 100).len(), 72);
        assert_eq!(median_frame_indices(300, 0).len(), 300);
    }

    fn series(values: &[u8]) -> u8 {
        let frames: Vec<Frame> = values.iter().map(|&v| Frame::gray(1, 1, vec![v])).collect();
        temporal_median(&frames).unwrap().data[0]
    }

    #[test]
    fn worked_examples() {
        assert_eq!(series(&[10, 20, 255, 30]), 25);
        assert_eq!(series(&[10, 11]), 10);
        assert_eq!(series(&[254, 255]), 254);
        assert_eq!(series(&[3, 200, 7]), 7);
        assert_eq!(series(&[0]), 0);
        assert_eq!(series(&[255, 255, 255]), 255);
    }

    #[test]
    fn matches_sorting_on_random_frames() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        for n in [1usize, 2, 5, 10, 101] {
            let frames: Vec<Frame> = (0..n).map(|_| Frame::new(70, 65, (0..70 * 65 * 3).map(|_| rng.random()).collect())).collect();
            let got = temporal_median(&frames).unwrap();
            for p in (0..70 * 65 * 3).step_by(97) {
                let mut v: Vec<u8> = frames.iter().map(|f| f.data[p]).collect();
                v.sort_unstable();
                let want = if n % 2 == 1 { v[n / 2] } else { ((v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0) as u8 };
                assert_eq!(got.data[p], want, "n={n} p={p}");
            }
        }
    }
}
