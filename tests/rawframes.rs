//! Rawframe datasets: mmaction2's own fixtures (plain, with_offset, flow), the error for a missing
//! frame, and equivalence of a clip read from a video and from its extracted JPEGs (PSNR > 40 dB
//! at quality 95).

mod common;

use vpipe::config::default_test_pipeline;
use vpipe::decode::{read_rawframes, FilenameTemplate, Modality, RawframeSpec};
use vpipe::graph::pipeline::DataPipeline;
use vpipe::graph::StageMetrics;
use vpipe::source::{read_rawframe_list, read_video_list};

#[test]
fn mmaction2_fixture_lists_read_the_right_files() {
    let Some(data) = common::data_dir() else { return };
    let m = data.join("mmaction2");
    let plain = read_rawframe_list(&m.join("annotations/rawframe_test_list.txt"), &m, false).unwrap();
    let r = plain[0].rawframes.unwrap();
    assert_eq!((r.total_frames, r.offset, plain[0].labels.clone()), (5, 0, vec![127]));
    let spec = RawframeSpec::default();
    // Index 1 (start_index 1 + position 0) is img_00001.jpg; with offset 2 it is img_00003.jpg.
    let a = read_rawframes(&plain[0].path, 0, &spec, &[3]).unwrap();
    let offs = read_rawframe_list(&m.join("annotations/rawframe_test_list_with_offset.txt"), &m, true).unwrap();
    let o = offs[0].rawframes.unwrap();
    assert_eq!((o.offset, o.total_frames), (2, 5));
    let b = read_rawframes(&offs[0].path, o.offset, &spec, &[1]).unwrap();
    assert_eq!(a, b);
    assert_eq!((a[0].width, a[0].height, a[0].channels), (320, 240, 3));
    assert_ne!(read_rawframes(&plain[0].path, 0, &spec, &[1]).unwrap(), a);
    // Repeated indices give copies of one decode, in order.
    let rep = read_rawframes(&plain[0].path, 0, &spec, &[2, 2, 1]).unwrap();
    assert_eq!((rep.len(), &rep[0]), (3, &rep[1]));
}

#[test]
fn flow_frames_are_gray_x_y_pairs() {
    let Some(data) = common::data_dir() else { return };
    let spec = RawframeSpec { filename_tmpl: FilenameTemplate::parse("{}_{:05d}.jpg").unwrap(), start_index: 1, modality: Modality::Flow };
    let frames = read_rawframes(&data.join("mmaction2/imgs"), 0, &spec, &[1, 5]).unwrap();
    assert_eq!(frames.len(), 4);
    assert!(frames.iter().all(|f| f.channels == 1 && f.data.len() == f.width * f.height));
    let x1 = vpipe::decode::read_jpeg(&data.join("mmaction2/imgs/x_00001.jpg"), 1).unwrap();
    let y5 = vpipe::decode::read_jpeg(&data.join("mmaction2/imgs/y_00005.jpg"), 1).unwrap();
    assert_eq!((&frames[0], &frames[3]), (&x1, &y5));
    assert_ne!(frames[0], frames[1], "x and y components are different images");
}

#[test]
fn a_missing_frame_names_the_file() {
    let Some(data) = common::data_dir() else { return };
    // The list claims 20 frames; the folder has 10.
    let dir = tempfile::tempdir().unwrap();
    let ann = dir.path().join("list.txt");
    std::fs::write(&ann, "imgs 20 0\n").unwrap();
    let samples = read_rawframe_list(&ann, &data.join("mmaction2"), false).unwrap();
    let parts = default_test_pipeline(8, Modality::RGB);
    let p = DataPipeline::build(parts, 0, 0, RawframeSpec::default()).unwrap();
    let m = StageMetrics::new("m");
    let e = format!("{:#}", p.prepare(&samples[0], &m, &m).unwrap_err());
    assert!(e.contains("img_00012.jpg") && e.starts_with("decode"), "{e}");
}

/// PSNR in dB of two equal-length value arrays in 0..255 units.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[test]
fn video_and_extracted_rawframes_give_the_same_clip_above_40_db() {
    let Some(data) = common::data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let o = common::vpipe().arg("extract-frames").arg(data.join("mini/videos")).arg(&raw).args(["--quality", "95"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // TSN/TSM test pipeline (8 segments, Resize −1×256, CenterCrop 224); a prepared sample is
    // in pixel units (uint8, normalised later by the loader or the model's device).
    let parts = default_test_pipeline(8, Modality::RGB);
    let pipeline = DataPipeline::build(parts, 0, 0, RawframeSpec::default()).unwrap();
    let m = StageMetrics::new("m");
    let videos = read_video_list(&data.join("mini/mini_videos.txt"), &data.join("mini/videos")).unwrap();
    for v in videos {
        let n = vpipe::decode::VideoReader::open(&v.path).unwrap().info().num_frames;
        let folder = raw.join(v.name.rsplit_once('.').unwrap().0);
        let mut rf = v.clone();
        rf.path = folder;
        rf.rawframes = Some(vpipe::source::RawframeRange { total_frames: n, offset: 0 });
        let a = pipeline.prepare(&v, &m, &m).unwrap().tensor;
        let b = pipeline.prepare(&rf, &m, &m).unwrap().tensor;
        assert_eq!(a.shape, b.shape);
        let db = psnr(&a.data, &b.data);
        eprintln!("{}: PSNR {db:.1} dB", v.name);
        assert!(db > 40.0, "{}: PSNR {db:.2} dB", v.name);
        assert!(db < 99.0, "{}: identical tensors: the rawframes path was not exercised", v.name);
    }
}

#[test]
fn epic_kitchens_segments_read_their_frame_range() {
    let Some(data) = common::data_dir() else { return };
    // EPIC-Kitchens-100's CSV columns over mmaction2's 10-frame folder: segment 3..=10 ends on the
    // folder's last file, so an offset one too far would ask for img_00011.jpg.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("EPIC_100_train.csv");
    std::fs::write(
        &csv,
        "narration_id,participant_id,video_id,start_frame,stop_frame,narration,verb,verb_class,noun,noun_class\n\
         P01_01_0,P01,imgs,3,10,\"open door, slowly\",open,3,door,3\nP01_01_1,P01,imgs,1,2,take cup,take,0,cup,13\n",
    )
    .unwrap();
    let yaml = format!(
        "data:\n  train:\n    source: {{type: EpicKitchens, ann_file: {}, root: {}, frame_dir: '{{video_id}}', filename_tmpl: 'img_{{:05}}.jpg'}}\n    pipeline:\n      - {{type: SampleFrames, clip_len: 8, frame_interval: 1, num_clips: 1, test_mode: true}}\n      - {{type: RawFrameDecode}}\n      - {{type: FormatShape, input_format: NCTHW}}\n",
        csv.display(),
        data.join("mmaction2").display()
    );
    let cfg = vpipe::config::PipelineConfig::parse(&yaml).unwrap();
    let split = cfg.split(vpipe::config::SplitName::Train).unwrap();
    let samples = split.source.samples().unwrap();
    assert_eq!((samples[0].labels.clone(), samples[1].labels.clone()), (vec![3], vec![0]));
    let p = DataPipeline::build(cfg.parts(vpipe::config::SplitName::Train).unwrap(), 0, 0, split.source.rawframe_spec().unwrap()).unwrap();
    let m = StageMetrics::new("m");
    let clip = p.transformed(&samples[0], &m, &m).unwrap();
    // 8 frames of an 8-frame segment: every file 3..=10 once, in order.
    let spec = RawframeSpec::default();
    let want = read_rawframes(&data.join("mmaction2/imgs"), 0, &spec, &[3, 4, 5, 6, 7, 8, 9, 10]).unwrap();
    assert_eq!(clip.frames, want);
    // The 2-frame segment loops its frames 1, 2 (mmaction2's SampleFrames on short clips).
    let short = p.transformed(&samples[1], &m, &m).unwrap();
    let one_two = read_rawframes(&data.join("mmaction2/imgs"), 0, &spec, &[1, 2]).unwrap();
    assert!(short.frames.iter().all(|f| *f == one_two[0] || *f == one_two[1]));
}
