//! Per-video frame-index cache: what [`super::VideoReader::open`] learns in its probe (the packet
//! index, or the frame count and frame map of a stream numbered by decoder output order) stored
//! under a cache folder, so a second epoch over the same files skips the demux pass — and, for
//! streams without pts that the VOP headers cannot number, the decode pass that counts their frames.
//!
//! It also keeps what FFmpeg's stream probe learned ([`StreamInfo`]), so that a second open can
//! skip `avformat_find_stream_info` where `stream_info.rs` says that changes nothing.
//!
//! One file per (canonical path, stream asked for: a number or FFmpeg's best):
//! `<dir>/<sha256 hex>.idx`, little-endian, read through a memory map. It records the file's size and modification time (nanoseconds); a file
//! that changed is probed again and its entry rewritten. Entries are written through a temporary
//! name and a rename, so a killed job never leaves a half entry; an unreadable or foreign entry is
//! ignored (probed again), never an error.
//!
//! Layout: magic `VPIDX\0\0\4`, then u64 words: size, mtime_ns, stream asked for (`u64::MAX`:
//! the best), kind (0 packet index, 1 decoded count, 2 count from VOP headers), num_frames,
//! b_frames, start, n_pts, n_keys, n_packets, n_outputs, the 19 i64 of the [`StreamInfo`]
//! (its first: the stream read), then n_pts i64 pts, n_keys (pts, dts) i64 pairs, n_packets i64 packet
//! positions and n_outputs (position, is B-frame) pairs; i64::MIN stands for an absent dts or start.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::stream_info::{self, StreamInfo};
use super::FrameCount;

const MAGIC: &[u8; 8] = b"VPIDX\0\0\x04";

/// What the probe found, as the cache stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CachedIndex {
    /// Frame pts in display order (empty for a decoded count).
    pub pts: Vec<i64>,
    /// Keyframes (pts, dts) ascending by pts.
    pub keyframes: Vec<(i64, Option<i64>)>,
    /// Frames in the stream.
    pub num_frames: usize,
    /// Whether frames are stored out of display order.
    pub b_frames: bool,
    /// How the frames were counted: the packet index (kind 0), or decoder output order for a
    /// stream without usable pts, by decoding (kind 1) or from its VOP headers (kind 2).
    pub count: FrameCount,
    /// The first packet's dts (or pts), where a rewind seeks to.
    pub start: Option<i64>,
    /// A decoded count's packet byte positions in demux order (empty where not recorded).
    pub packets: Vec<i64>,
    /// A decoded count's output frames: (position of the packet that produced it, is a B-frame).
    pub outputs: Vec<(i64, bool)>,
    /// What the stream probe learned about the stream read (which it names).
    pub probe: StreamInfo,
}

/// The cache folder vpipe uses when none is given: `$VPIPE_INDEX_CACHE` (empty or `off`
/// disables it), else `$XDG_CACHE_HOME/vpipe/index`, else `~/.cache/vpipe/index`.
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("VPIPE_INDEX_CACHE") {
        Some(v) if v.is_empty() || v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|c| c.join("vpipe").join("index")),
    }
}

/// The identity of a file version: (size in bytes, mtime in ns since the epoch).
fn stamp(path: &Path) -> Option<(u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some((m.len(), mtime.as_nanos() as u64))
}

/// The header's word for the stream asked for.
fn stream_key(requested: Option<usize>) -> u64 {
    requested.map_or(u64::MAX, |i| i as u64)
}

fn entry_path(dir: &Path, path: &Path, requested: Option<usize>) -> Option<PathBuf> {
    let canonical = std::fs::canonicalize(path).ok()?;
    let mut h = Sha256::new();
    h.update(canonical.as_os_str().as_encoded_bytes());
    h.update(stream_key(requested).to_le_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(dir.join(format!("{hex}.idx")))
}

/// The cached index of `path` for the stream asked for (`None`: FFmpeg's best video stream), if
/// present and made from this version of the file.
pub(crate) fn load(dir: &Path, path: &Path, requested: Option<usize>) -> Option<CachedIndex> {
    let entry = entry_path(dir, path, requested)?;
    let file = std::fs::File::open(entry).ok()?;
    // SAFETY: entries are only ever replaced by rename, never modified in place, so the mapped
    // bytes do not change under us.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let (size, mtime) = stamp(path)?;
    parse(&map, size, mtime, stream_key(requested))
}

fn parse(bytes: &[u8], size: u64, mtime: u64, stream: u64) -> Option<CachedIndex> {
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let word = |i: usize| body.get(i * 8..i * 8 + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    if (word(0)?, word(1)?, word(2)?) != (size, mtime, stream) {
        return None;
    }
    let (kind, num_frames, b_frames, start) = (word(3)?, word(4)?, word(5)?, word(6)? as i64);
    let count = [FrameCount::PacketIndex, FrameCount::Decoded, FrameCount::VopHeaders].get(usize::try_from(kind).ok()?).copied()?;
    let [n_pts, n_keys, n_packets, n_outputs] = [7, 8, 9, 10].map(|i| word(i).map_or(usize::MAX, |w| w as usize));
    let probe = StreamInfo::from_words(&(11..11 + stream_info::WORDS).map(|i| word(i).map(|w| w as i64)).collect::<Option<Vec<_>>>()?)?;
    const HEADER: usize = 11 + stream_info::WORDS;
    let words =
        HEADER.checked_add(n_pts)?.checked_add(n_keys.checked_mul(2)?)?.checked_add(n_packets)?.checked_add(n_outputs.checked_mul(2)?)?;
    if Some(body.len()) != words.checked_mul(8) {
        return None;
    }
    let int = |i: usize| word(i).map(|w| w as i64);
    let ints = |at: usize, n: usize| (at..at + n).map(int).collect::<Option<Vec<_>>>();
    let pairs = |at: usize, n: usize| (0..n).map(|k| Some((int(at + 2 * k)?, int(at + 2 * k + 1)?))).collect::<Option<Vec<_>>>();
    let pts = ints(HEADER, n_pts)?;
    let keys_at = HEADER + n_pts;
    let keyframes = pairs(keys_at, n_keys)?.into_iter().map(|(p, d)| (p, (d != i64::MIN).then_some(d))).collect();
    let packets_at = keys_at + 2 * n_keys;
    let packets = ints(packets_at, n_packets)?;
    let outputs = pairs(packets_at + n_packets, n_outputs)?.into_iter().map(|(p, b)| (p, b != 0)).collect();
    let start = (start != i64::MIN).then_some(start);
    Some(CachedIndex { pts, keyframes, num_frames: num_frames as usize, b_frames: b_frames != 0, count, start, packets, outputs, probe })
}

/// Stores `index` for `path` and the stream asked for. Failures (read-only or full disk) are
/// ignored: the cache only saves time.
pub(crate) fn store(dir: &Path, path: &Path, requested: Option<usize>, index: &CachedIndex) {
    let (Some(entry), Some((size, mtime))) = (entry_path(dir, path, requested), stamp(path)) else { return };
    let mut out = Vec::with_capacity(
        8 * (12 + stream_info::WORDS + index.pts.len() + 2 * index.keyframes.len() + index.packets.len() + 2 * index.outputs.len()),
    );
    out.extend_from_slice(MAGIC);
    let words = [
        size,
        mtime,
        stream_key(requested),
        match index.count {
            FrameCount::PacketIndex | FrameCount::ContainerIndex => 0,
            FrameCount::Decoded => 1,
            FrameCount::VopHeaders => 2,
        },
        index.num_frames as u64,
        index.b_frames as u64,
        index.start.unwrap_or(i64::MIN) as u64,
        index.pts.len() as u64,
        index.keyframes.len() as u64,
        index.packets.len() as u64,
        index.outputs.len() as u64,
    ];
    words.iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
    index.probe.to_words().iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
    index.pts.iter().for_each(|p| out.extend_from_slice(&p.to_le_bytes()));
    for (p, d) in &index.keyframes {
        out.extend_from_slice(&p.to_le_bytes());
        out.extend_from_slice(&d.unwrap_or(i64::MIN).to_le_bytes());
    }
    index.packets.iter().for_each(|p| out.extend_from_slice(&p.to_le_bytes()));
    for (p, b) in &index.outputs {
        out.extend_from_slice(&p.to_le_bytes());
        out.extend_from_slice(&(*b as i64).to_le_bytes());
    }
    let _ = crate::sink::atomic::write_file(&entry, &out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_go_stale_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("v.mp4");
        std::fs::write(&video, b"not really a video").unwrap();
        let idx = CachedIndex {
            pts: vec![0, 512, 1024],
            keyframes: vec![(0, Some(-512)), (1024, None)],
            num_frames: 3,
            b_frames: true,
            count: FrameCount::PacketIndex,
            start: Some(-512),
            packets: vec![5632, 9100, 9160],
            outputs: vec![(5632, false), (9160, true)],
            probe: StreamInfo::from_words(&[0, 27, 2, 340, 256, 0, 100, 30, 8, 1, 1, 1, 1, 28, 1, 28, 1, 143360, 0]).unwrap(),
        };
        let cache = dir.path().join("cache");
        assert_eq!(load(&cache, &video, None), None);
        store(&cache, &video, None, &idx);
        assert_eq!(load(&cache, &video, None), Some(idx.clone()));
        assert_eq!(load(&cache, &video, Some(0)), None, "a stream asked for by number has its own entry");
        std::fs::write(&video, b"a different, longer file body").unwrap();
        assert_eq!(load(&cache, &video, None), None, "a changed file is probed again");
        // A truncated entry is ignored, not an error.
        store(&cache, &video, None, &idx);
        let entry = entry_path(&cache, &video, None).unwrap();
        let bytes = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(load(&cache, &video, None), None);
    }
}
