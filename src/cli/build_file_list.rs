//! `vpipe build-file-list DATASET SRC`: split files + a rawframe or video tree → mmaction2 lists.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use vpipe::source::file_list::{self, Dataset, ListFormat};

/// Flags of `vpipe build-file-list` (names follow mmaction2's `build_file_list.py`).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// ucf101, hmdb51, or folder (a plain folder-per-class tree, one split).
    #[arg(value_parser = super::choice::<Dataset>(Dataset::NAMES))]
    dataset: Dataset,
    /// The extracted rawframes (SRC/<class>/<video>/img_*.jpg) or videos (SRC/<class>/<video>.avi).
    src_folder: PathBuf,
    /// List rawframe folders (with their frame counts on disk) or video files.
    #[arg(long, value_parser = super::choice::<ListFormat>(ListFormat::NAMES), default_value = "rawframes")]
    format: ListFormat,
    /// Folder of the split files (classInd.txt, trainlist01.txt … / <class>_test_split1.txt …)
    /// [default: OUT_ROOT_PATH/<dataset>/annotations].
    #[arg(long)]
    annotations: Option<PathBuf>,
    /// Lists are written to OUT_ROOT_PATH/<dataset>/<dataset>_{train,val}_split_{N}_{format}.txt.
    #[arg(long, default_value = "data")]
    out_root_path: PathBuf,
    /// Splits to write (UCF101 and HMDB51 have 3; folder has 1).
    #[arg(long)]
    num_split: Option<usize>,
    /// Directory depth of items under SRC_FOLDER (2 = class folders).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    level: u8,
    /// Prefix of RGB frame files counted for rawframe lists.
    #[arg(long, default_value = "img_")]
    rgb_prefix: String,
    /// Prefix of x-flow files (their count must equal the y-flow count).
    #[arg(long, default_value = "flow_x_")]
    flow_x_prefix: String,
    /// Prefix of y-flow files.
    #[arg(long, default_value = "flow_y_")]
    flow_y_prefix: String,
    /// Video extensions for --format videos, comma-separated.
    #[arg(long, default_value = vpipe::source::VIDEO_EXTENSIONS_CSV, value_delimiter = ',')]
    ext: Vec<String>,
    /// folder: UCF-style class index (`1 ClassName` per line) that sets the labels, instead of the
    /// sorted class order.
    #[arg(long)]
    class_ind: Option<PathBuf>,
    /// folder: fraction of each class put in the val list.
    #[arg(long, default_value_t = 0.2)]
    val_ratio: f64,
    /// Shuffle the train lists (seeded by --seed).
    #[arg(long)]
    shuffle: bool,
    /// Dataset name in output paths [default: ucf101 / hmdb51; for folder, the name of
    /// SRC_FOLDER's parent, as in data/<name>/rawframes].
    #[arg(long)]
    name: Option<String>,
    /// Seed for --shuffle and the folder split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The dataset name used in output paths when --name is not given.
fn default_name(a: &Args) -> Result<String> {
    Ok(match a.dataset {
        Dataset::Ucf101 => "ucf101".to_string(),
        Dataset::Hmdb51 => "hmdb51".to_string(),
        Dataset::Folder => {
            a.src_folder.canonicalize()?.parent().and_then(|p| p.file_name()).map_or("dataset".into(), |n| n.to_string_lossy().into_owned())
        }
    })
}

/// Runs the command: writes the lists and prints one line per file; videos named by the splits
/// but missing under SRC_FOLDER are counted and the first few shown.
pub fn run(a: Args) -> Result<()> {
    let exts: Vec<&str> = a.ext.iter().map(String::as_str).collect();
    let prefixes = [a.rgb_prefix.as_str(), a.flow_x_prefix.as_str(), a.flow_y_prefix.as_str()];
    let items = file_list::scan(&a.src_folder, a.level as usize, a.format, &exts, prefixes)?;
    if items.is_empty() {
        bail!("nothing to list under {} (--format {:?}, --level {})", a.src_folder.display(), a.format, a.level);
    }
    let ds = match a.name.clone() {
        Some(n) => n,
        None => default_name(&a)?,
    };
    let ann = a.annotations.clone().unwrap_or_else(|| a.out_root_path.join(&ds).join("annotations"));
    let class_ind = a.class_ind.as_deref().map(file_list::read_class_ind).transpose()?;
    let splits = a.num_split.unwrap_or(if a.dataset == Dataset::Folder { 1 } else { 3 });
    for n in 1..=splits {
        let mut split = match a.dataset {
            Dataset::Ucf101 => file_list::ucf101_split(&ann, n),
            Dataset::Hmdb51 => file_list::hmdb51_split(&ann, n),
            Dataset::Folder => file_list::folder_split(&items, class_ind.as_ref(), a.val_ratio, a.seed + n as u64 - 1),
        }
        .with_context(|| format!("split {n}"))?;
        if a.shuffle {
            split.train.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(a.seed));
        }
        for (subset, entries) in [("train", &split.train), ("val", &split.val)] {
            let (text, missing) = file_list::render(entries, &items, a.format);
            let path = file_list::list_path(&a.out_root_path, &ds, subset, n, a.format);
            file_list::write_list(&path, &text)?;
            println!("{} ({} of {} listed)", path.display(), entries.len() - missing.len(), entries.len());
            if !missing.is_empty() {
                eprintln!(
                    "warning: {} {subset} item(s) of split {n} not under {}: {}",
                    missing.len(),
                    a.src_folder.display(),
                    missing.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                );
            }
        }
    }
    Ok(())
}
