//! The ranges of vpipe's numeric settings, one table for the YAML keys and the command-line flags
//! that set the same thing (`batch_size:` and `--batch-size` follow one rule).
//!
//! Every number a user gives is checked against its range when the job's configuration is built
//! (`vpipe check`, `run`, `featurize`, `inspect`, `bench`), with a message naming the key and the
//! range, before anything is allocated or spawned from it. The bounds are generous for real work
//! and far below what would exhaust memory or threads: `num_classes: 4000000000` would ask for a
//! 16 GB head, `workers: 100000` for 100 000 threads.

use std::fmt::Display;
use std::ops::RangeInclusive;

use anyhow::{bail, Result};

/// Samples per batch (`batch_size`, `--batch-size`).
pub const BATCH_SIZE: RangeInclusive<usize> = 1..=4096;
/// Decode/transform threads (`workers`, `--workers`).
pub const WORKERS: RangeInclusive<usize> = 1..=1024;
/// Samples in flight between source and model (`capacity`, `--capacity`).
pub const CAPACITY: RangeInclusive<usize> = 1..=65536;
/// Classes of a classification head (`model.num_classes`, `--num-classes`): ImageNet-21k has
/// 21 841; 100 000 classes × 2048 features is a 0.8 GB fc layer.
pub const NUM_CLASSES: RangeInclusive<usize> = 1..=100_000;
/// Images per view of a 2D model (`model.num_segments`, `--num-segments`).
pub const NUM_SEGMENTS: RangeInclusive<usize> = 1..=1024;
/// TSM `shift_div`: 1/shift_div of the channels move each way, so at least 2 (both shifted folds
/// fit in the channels) and at most 64 (the stem's channels: one channel each way).
pub const SHIFT_DIV: RangeInclusive<usize> = 2..=64;
/// Views per video (`--clips`).
pub const CLIPS: RangeInclusive<usize> = 1..=1000;
/// Samples per committed chunk (`--commit-every`).
pub const COMMIT_EVERY: RangeInclusive<usize> = 1..=1_000_000;
/// Output frame sides in pixels (`extract-frames --new-short`, `--new-width`, `--new-height`):
/// the transforms' own limit ([`crate::transform::MAX_SIDE`]).
pub const SIDE: RangeInclusive<usize> = 1..=crate::transform::MAX_SIDE;
/// JPEG quality (`extract-frames --quality`), as OpenCV's `IMWRITE_JPEG_QUALITY`.
pub const JPEG_QUALITY: RangeInclusive<i32> = 1..=100;
/// Number of the first rawframe file (`start_index`, `--start-index`): 1 (OpenCV) or 0
/// (denseflow) in practice; at most a million, so that file numbers never overflow.
pub const START_INDEX: RangeInclusive<usize> = 0..=1_000_000;
/// Frozen ResNet stages (`model.frozen_stages`): −1 none … 4 all.
pub const FROZEN_STAGES: RangeInclusive<i64> = -1..=4;

/// Checks that `key` = `value` lies in `range`.
///
/// # Errors
/// Outside the range: the message names the key, the value and the range.
pub fn check<T: PartialOrd + Display + Copy>(key: &str, value: T, range: RangeInclusive<T>) -> Result<T> {
    if !range.contains(&value) {
        bail!("`{key}` must be in {}..={}, got {value}", range.start(), range.end());
    }
    Ok(value)
}

/// The loader's sizes, resolved and checked by one rule for the YAML keys and the flags:
/// `batch_size`, `workers` (default: the machine's cores) and `capacity` (default 2 × workers,
/// at least a batch). `key` prefixes the names in messages (`data.train`, or `--` for flags).
///
/// # Errors
/// A size outside its range ([`BATCH_SIZE`], [`WORKERS`], [`CAPACITY`]), naming the key.
pub fn loader_sizes(key: &str, batch_size: usize, workers: Option<usize>, capacity: Option<usize>) -> Result<(usize, usize, usize)> {
    let name = |k: &str| if key == "--" { format!("--{}", k.replace('_', "-")) } else { format!("{key}.{k}") };
    let batch_size = check(&name("batch_size"), batch_size, BATCH_SIZE)?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).min(*WORKERS.end());
    let workers = check(&name("workers"), workers.unwrap_or(cores), WORKERS)?;
    let capacity = match capacity {
        Some(c) => check(&name("capacity"), c, CAPACITY)?.max(batch_size),
        None => (2 * workers).max(batch_size),
    };
    Ok((batch_size, workers, capacity))
}

/// Checks that `key` = `value` is at least `min` (counts with no useful upper bound).
///
/// # Errors
/// Below `min`: the message names the key and the bound.
pub fn check_at_least<T: PartialOrd + Display + Copy>(key: &str, value: T, min: T) -> Result<T> {
    if value < min {
        bail!("`{key}` must be ≥ {min}, got {value}");
    }
    Ok(value)
}

/// Checks that `key` = `value` is a probability-like number in `[0, 1)` (dropout: p = 1 would
/// zero every feature while training).
///
/// # Errors
/// NaN, infinite, negative or ≥ 1 (the message names the key).
pub fn check_unit_open(key: &str, value: f64) -> Result<f64> {
    if !(0.0..1.0).contains(&value) {
        bail!("`{key}` must be in [0, 1), got {value}");
    }
    Ok(value)
}

/// Checks that `key` = `value` is finite and ≥ 0 (standard deviations, learning rates).
///
/// # Errors
/// NaN, infinite or negative (the message names the key).
pub fn check_non_negative(key: &str, value: f64) -> Result<f64> {
    if !(value.is_finite() && value >= 0.0) {
        bail!("`{key}` must be a finite number ≥ 0, got {value}");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_name_the_key_and_the_range() {
        assert_eq!(check("batch_size", 8, BATCH_SIZE).unwrap(), 8);
        let e = check("batch_size", 0, BATCH_SIZE).unwrap_err().to_string();
        assert_eq!(e, "`batch_size` must be in 1..=4096, got 0");
        assert!(check("workers", 100_000, WORKERS).is_err());
        assert!(check("model.frozen_stages", -2, FROZEN_STAGES).is_err());
        assert!(check_unit_open("model.dropout", 2.0).unwrap_err().to_string().contains("model.dropout"));
        assert!(check_unit_open("model.dropout", -1.0).is_err() && check_unit_open("d", f64::NAN).is_err());
        assert!(check_non_negative("init_std", f64::INFINITY).is_err());
    }
}
