//! Where samples come from: mmaction2 annotation lists and folder-per-class trees, plus
//! deterministic sharding for batch clusters.

mod video_list;

pub use video_list::{folder_per_class, read_video_list, shard, Sample};
