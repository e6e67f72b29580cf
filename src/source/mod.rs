//! Where samples come from: mmaction2 annotation lists (videos and rawframes) and folder-per-class
//! trees, dataset split files (UCF101, HMDB51) turned into lists, plus deterministic sharding for
//! batch clusters.

pub mod file_list;
mod rawframe_list;
mod shard;
mod video_list;

pub use rawframe_list::read_rawframe_list;
pub use shard::Shard;
pub use video_list::{folder_per_class, read_video_list, RawframeRange, Sample};
