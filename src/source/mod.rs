//! Where samples come from: mmaction2 annotation lists (videos and rawframes) and folder-per-class
//! trees, dataset split files (UCF101, HMDB51) turned into lists, plus deterministic sharding for
//! batch clusters.

pub mod ava;
pub mod backgrounds;
pub mod epic_kitchens;
pub mod file_list;
pub mod frame_list;
pub mod list_file;
mod rawframe_list;
mod shard;
mod video_list;
pub mod walk;

/// Video file extensions taken wherever a folder is scanned (folder-per-class sources,
/// `extract-frames`, `build-file-list`, `median --videos`), compared case-insensitively.
pub const VIDEO_EXTENSIONS: &[&str] = &["avi", "mp4", "webm", "mkv", "mov", "m4v", "mpg", "mpeg", "flv", "wmv"];

/// [`VIDEO_EXTENSIONS`] comma-separated: the default of the `--ext` flags.
pub const VIDEO_EXTENSIONS_CSV: &str = "avi,mp4,webm,mkv,mov,m4v,mpg,mpeg,flv,wmv";

#[cfg(test)]
#[test]
fn the_extension_list_is_written_once() {
    assert_eq!(VIDEO_EXTENSIONS.join(","), VIDEO_EXTENSIONS_CSV);
}

pub use rawframe_list::read_rawframe_list;
pub use shard::Shard;
pub use video_list::{folder_per_class, read_video_list, RawframeRange, Sample};
