//! Fuzzing on stable Rust, inside `cargo test`: each target mutates real seed inputs (the
//! project's pipeline files, real lists, a real index-cache entry, real MPEG-4 Part 2 bytes, a
//! real safetensors file) for a bounded time and feeds them to one of vpipe's readers, which
//! must answer with `Ok` or an error, never a panic. `VPIPE_FUZZ_SECS` sets the time per target
//! (default 3 s; `scripts/test.sh` gives 10). The mutations are drawn from a seeded PCG, so a
//! run is reproducible from `VPIPE_FUZZ_SEED`; a panicking input is written under
//! `target/fuzz-crashes/` and the test fails naming it. Inputs that once crashed are replayed
//! first by each target (its `REGRESSIONS`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// Byte strings that tend to break parsers: numbers at the edges of every integer type, YAML
/// structure, non-UTF-8 bytes, separators.
const INTERESTING: &[&[u8]] = &[
    b"0",
    b"-1",
    b"4294967296",
    b"18446744073709551616",
    b"1e309",
    b"-0.0",
    b".nan",
    b".inf",
    b"''",
    b"\"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b": ",
    b"- ",
    b"\n",
    b"\t",
    b"#",
    b"&a",
    b"*a",
    b"<<: *a",
    b"!foo ",
    b"!!binary ",
    b"~",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\x00",
    b"/",
    b"..",
    b"{:05d}",
    b"{:0100000d}",
    b"type: ",
    b"\x00\x00\x01\xB6",
    b"\x00\x00\x01\xB0",
    b"\x00\x00\x01\xB2DivX",
];

fn budget() -> Duration {
    let secs = std::env::var("VPIPE_FUZZ_SECS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("VPIPE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed)
}

/// One mutation of `input`: bit flips, byte changes, insertions of interesting strings or of
/// pieces of another seed, deletions and duplications of ranges.
fn mutate(rng: &mut Pcg64, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = v.len();
        let at = if len == 0 { 0 } else { rng.random_range(0..=len) };
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                v[i] = rng.random();
            }
            2 => {
                let s = INTERESTING[rng.random_range(0..INTERESTING.len())];
                v.splice(at..at, s.iter().copied());
            }
            3 if len > 0 => {
                let end = (at + rng.random_range(1..=16)).min(len);
                v.drain(at.min(end)..end);
            }
            4 if len > 0 => {
                let start = rng.random_range(0..len);
                let end = (start + rng.random_range(1..=64)).min(len);
                let piece = v[start..end].to_vec();
                v.splice(at..at, piece);
            }
            5 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let start = rng.random_range(0..other.len());
                    let end = (start + rng.random_range(1..=128)).min(other.len());
                    v.splice(at..at, other[start..end].iter().copied());
                }
            }
            _ => {
                // A digit run replaced by an extreme number (the numbers in configs and lists).
                if let Some(i) = (0..len).map(|k| (at + k) % len.max(1)).find(|&i| v[i].is_ascii_digit()) {
                    let end = (i..len).find(|&j| !v[j].is_ascii_digit()).unwrap_or(len);
                    let n = [&b"0"[..], b"4294967295", b"18446744073709551615", b"99999999999999999999999", b"-7"][rng.random_range(0..5)];
                    v.splice(i..end, n.iter().copied());
                }
            }
        }
    }
    v
}

/// Runs `target` on the regressions, then on mutations of `seeds` until the time budget is
/// spent. Returns the number of inputs tried.
///
/// # Panics
/// When `target` panics on an input (written under `target/fuzz-crashes/<name>-N`).
fn fuzz(name: &str, seeds: &[Vec<u8>], regressions: &[&[u8]], mut target: impl FnMut(&[u8])) -> usize {
    let mut rng = Pcg64::seed_from_u64(seed() ^ name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)));
    let mut corpus: Vec<Vec<u8>> = seeds.to_vec();
    let (start, mut tried) = (Instant::now(), 0usize);
    let inputs = regressions.iter().map(|r| r.to_vec()).chain(seeds.iter().cloned());
    let check = |input: Vec<u8>, tried: usize, target: &mut dyn FnMut(&[u8])| {
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{name}-{tried}"));
            let _ = std::fs::write(&path, &input);
            panic!("fuzz target {name} panicked on the input saved at {} (add it to the target's regressions once fixed)", path.display());
        }
    };
    for input in inputs {
        check(input, tried, &mut target);
        tried += 1;
    }
    while start.elapsed() < budget() {
        let base = &corpus[rng.random_range(0..corpus.len())];
        let input = mutate(&mut rng, base, seeds);
        if corpus.len() < 256 && rng.random_range(0..8) == 0 {
            corpus.push(input.clone()); // mutations of mutations reach deeper
        }
        check(input, tried, &mut target);
        tried += 1;
    }
    tried
}

/// Test data (`$VPIPE_TEST_DATA`, else `../shared/data`), for the targets whose seeds are videos.
fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VPIPE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if dir.join("mini/mini_videos.txt").exists() {
        return Some(dir);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no test data at {}", dir.display());
    eprintln!("SKIPPED: no test data at {}", dir.display());
    None
}

#[test]
fn fuzz_the_pipeline_yaml_loader() {
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let regressions: &[&[u8]] = &[b"data: {}\n", b"model: {type: TSM, num_classes: 4000000000}\ndata: {}\n"];
    let ctx = crate::transform::BuildCtx::default();
    let n = fuzz("yaml", &seeds, regressions, |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else { return };
        if let Ok(cfg) = crate::config::PipelineConfig::parse(text) {
            let _ = cfg.check(false, &ctx);
            if let Some(m) = &cfg.model {
                let _ = m.spec(0);
            }
        }
        let _ = crate::config::FeaturizeConfig::parse(text);
    });
    assert!(n > seeds.len());
}

#[test]
fn fuzz_the_list_parsers() {
    let seeds: Vec<Vec<u8>> = vec![
        b"SoccerJuggling/v_SoccerJuggling_g23_c01.avi 0\nwave/RATRACE_wave_f_nm_np1_fr_goo_37.avi 1\n".to_vec(),
        b"imgs 2 5 127\nsome/dir 163 1 3 5\n# comment\n\n".to_vec(),
        b"\xEF\xBB\xBFcaf\xE9.avi 3\r\n".to_vec(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    let n = fuzz("lists", &seeds, &[b"a 1 2 3 4 5 6 7 8 9\n", b"\n\n\n#", b"a -2147483649\n"], |bytes| {
        let _ = crate::source::list_file::parse_list(bytes, "list.txt");
        std::fs::write(&list, bytes).unwrap();
        if let Ok(samples) = crate::source::read_video_list(&list, Path::new("root")) {
            let source = crate::config::SourceConfig::VideoList {
                ann_file: list.clone(),
                root: "root".into(),
                multi_class: false,
                num_classes: None,
            };
            let _ = source.check_model_labels(&samples, 5);
        }
        let _ = crate::source::read_rawframe_list(&list, Path::new("root"), false);
        let _ = crate::source::read_rawframe_list(&list, Path::new("root"), true);
    });
    assert!(n > seeds.len());
}

#[test]
fn fuzz_the_checkpoint_reader() {
    let dir = tempfile::tempdir().unwrap();
    let seed_path = dir.path().join("seed.safetensors");
    let w = tch::Tensor::arange(12, (tch::Kind::Float, tch::Device::Cpu)).view([3, 4]);
    let b = tch::Tensor::ones([4], (tch::Kind::Float, tch::Device::Cpu));
    tch::Tensor::write_safetensors(&[("fc.weight", &w), ("fc.bias", &b)], &seed_path).unwrap();
    let seeds = vec![std::fs::read(&seed_path).unwrap()];
    let path = dir.path().join("x.safetensors");
    let n = fuzz("checkpoint", &seeds, &[b"", b"\xff\xff\xff\xff\xff\xff\xff\xff{}"], |bytes| {
        std::fs::write(&path, bytes).unwrap();
        if let Ok(tensors) = tch::Tensor::read_safetensors(&path) {
            for (_, t) in tensors {
                let _ = t.f_sum(tch::Kind::Float);
            }
        }
    });
    assert!(n > 1);
}

#[test]
fn fuzz_the_index_cache_reader() {
    let Some(data) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A short H.264 clip with B-frames (pts index) and a DivX AVI numbered by its VOP headers.
    for (k, video) in ["edge/unordered.mov", "mini/videos/wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi"].iter().enumerate() {
        let cache = dir.path().join(format!("cache{k}"));
        let options = crate::decode::DecodeOptions { index_cache: Some(cache.clone()), ..Default::default() };
        let video = data.join(video);
        let n = crate::decode::VideoReader::open_with(&video, &options).unwrap().info().num_frames;
        let entry = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
        let seeds = vec![std::fs::read(&entry).unwrap()];
        fuzz(&format!("index-cache-{k}"), &seeds, &[], |bytes| {
            std::fs::write(&entry, bytes).unwrap();
            if let Ok(mut r) = crate::decode::VideoReader::open_with(&video, &options) {
                let m = r.info().num_frames;
                let _ = r.frames(&[0, m / 2, m.saturating_sub(1), n.saturating_sub(1).min(m.saturating_sub(1))]);
            }
        });
    }
}

#[test]
fn fuzz_the_vop_header_parser() {
    let Some(data) = data_dir() else { return };
    // Real MPEG-4 Part 2 bytes: the movi data of DivX and XviD AVIs, cut into packets at their
    // start codes by the target.
    let seeds: Vec<Vec<u8>> = ["mini/videos/wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi", "mmaction2/test.avi"]
        .iter()
        .map(|v| std::fs::read(data.join(v)).unwrap().into_iter().skip(2048).take(64 * 1024).collect())
        .collect();
    fuzz("vop", &seeds, &[b"\x00\x00\x01\xB6", b"\x00\x00\x01\xB2DivX503b1393p"], |bytes| {
        for tag in [*b"DX50", *b"XVID"] {
            let mut p = crate::decode::vop_headers::VopPredictor::new(u32::from_le_bytes(tag), &bytes[..bytes.len().min(32)]);
            for (k, packet) in bytes.split(|&b| b == 0xB6).enumerate() {
                p.feed(k as i64, packet);
            }
            let _ = p.finish();
        }
    });
}

#[test]
fn the_mutator_changes_inputs_and_is_reproducible() {
    let seeds = vec![b"batch_size: 8\n".to_vec()];
    let run = || {
        let mut rng = Pcg64::seed_from_u64(1);
        (0..50).map(|_| mutate(&mut rng, &seeds[0], &seeds)).collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a, run(), "same seed, same inputs");
    assert!(a.iter().filter(|m| **m != seeds[0]).count() > 40);
    assert!(a.iter().any(|m| !m.windows(2).any(|w| w == b"8\n")), "numbers get replaced");
}
