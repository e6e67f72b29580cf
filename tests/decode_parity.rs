//! Frame `i` from vpipe equals frame `i` of
//! `ffmpeg -i V -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -`, and frame counts equal
//! FFmpeg's decoded-frame counts, on real clips.

mod common;

use std::path::Path;
use std::process::Command;

use vpipe::decode::VideoReader;

/// All frames as FFmpeg's CLI decodes them (no auto-rotation, bicubic scaler flags).
fn ffmpeg_frames(path: &Path, w: usize, h: usize) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-noautorotate", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-fps_mode", "passthrough", "-sws_flags", "bicubic", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg CLI is installed by scripts/setup.sh");
    assert!(out.status.success(), "ffmpeg failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks(w * h * 3).map(|c| c.to_vec()).collect()
}

fn check(rel: &str, expect_frames: usize) {
    let Some(data) = common::data_dir() else { return };
    let path = data.join(rel);
    let reader = VideoReader::open(&path).unwrap();
    let info = reader.info().clone();
    assert_eq!(info.num_frames, expect_frames, "{rel}: frame count");
    let reference = ffmpeg_frames(&path, info.width, info.height);
    assert_eq!(reference.len(), expect_frames, "{rel}: ffmpeg frame count");
    let n = info.num_frames;
    // Sparse TSM-style picks (out of order, repeated), the first and last frames, a dense run.
    let mut picks: Vec<usize> = (0..8).map(|k| (n * (2 * k + 1)) / 16).collect();
    picks.extend([n - 1, 0, n / 2, n / 2, 1]);
    picks.extend(n / 3..(n / 3 + 5).min(n));
    let frames = reader.frames(&picks).unwrap();
    for (i, f) in picks.iter().zip(&frames) {
        assert_eq!((f.width, f.height), (info.width, info.height));
        assert!(f.data == reference[*i], "{rel}: frame {i} differs from ffmpeg's");
    }
    // Every frame, in one call.
    let all = reader.frames(&(0..n).collect::<Vec<_>>()).unwrap();
    for (i, f) in all.iter().enumerate() {
        assert!(f.data == reference[i], "{rel}: frame {i} (full decode) differs from ffmpeg's");
    }
}

#[test]
fn xvid_avi_matches_ffmpeg() {
    check("mini/videos/SoccerJuggling/v_SoccerJuggling_g23_c01.avi", 240);
}

#[test]
fn divx_packed_b_frames_match_ffmpeg() {
    check("mini/videos/wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi", 72);
}

#[test]
fn h264_with_b_frames_matches_ffmpeg() {
    check("mini/videos/arm_wrestling/demo.mp4", 280);
}

#[test]
fn h264_matroska_matches_ffmpeg() {
    check("mini/videos/flipping_pancake/flipping_a_pancake.mkv", 310);
}

#[test]
fn vp9_webm_matches_ffmpeg() {
    check("edge/bbb_480p_vp9_opus_1second.webm", 24);
}

#[test]
fn frames_stored_out_of_display_order_come_back_in_pts_order() {
    check("edge/unordered.mov", 4);
}

#[test]
fn kinetics_h264_matches_ffmpeg() {
    check("kinetics/SOX5yA1l24A.mp4", 332);
}

#[test]
fn probe_reports_size_fps_and_rotation() {
    let Some(data) = common::data_dir() else { return };
    let i = VideoReader::open(data.join("mini/videos/wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi")).unwrap().info().clone();
    assert_eq!((i.num_frames, i.width, i.height), (48, 432, 240));
    assert!((i.fps - 30.0).abs() < 0.01, "{}", i.fps);
    let r = VideoReader::open(data.join("edge/video_90.mov")).unwrap().info().clone();
    assert_eq!((r.num_frames, r.width, r.height), (3, 568, 320));
    assert!((r.rotation.abs() - 90.0).abs() < 1e-6, "rotation {}", r.rotation);
}

#[test]
fn other_codecs_decode_every_frame() {
    let Some(data) = common::data_dir() else { return };
    for (rel, n) in [
        ("edge/h265_video.mp4", 10),
        ("edge/av1_video.mkv", 125),
        ("edge/big_buck_bunny_432_433.webm", 24),
        ("edge/tiny_1x1.mp4", 5),
        ("mmaction2/test.avi", 164),
    ] {
        let r = VideoReader::open(data.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
        assert_eq!(r.info().num_frames, n, "{rel}");
        let f = r.frames(&[0, n - 1]).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
        assert_eq!(f[1].data.len(), r.info().width * r.info().height * 3);
    }
}

#[test]
fn corrupt_and_missing_files_are_errors_not_crashes() {
    let Some(data) = common::data_dir() else { return };
    let bad = VideoReader::open(data.join("edge/corrupted.mp4")).and_then(|r| {
        let n = r.info().num_frames;
        r.frames(&(0..n).collect::<Vec<_>>())
    });
    assert!(bad.is_err(), "corrupted.mp4 must be reported");
    let missing = VideoReader::open(data.join("edge/no_such_file.mp4")).unwrap_err();
    assert!(format!("{missing:#}").contains("No such file"), "{missing:#}");
    let out_of_range = VideoReader::open(data.join("edge/short_32f.mp4")).unwrap().frames(&[32]).unwrap_err();
    assert!(out_of_range.to_string().contains("out of range"));
}
