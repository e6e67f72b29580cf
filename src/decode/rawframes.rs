//! Rawframe folders (mmaction2 `RawFrameDecode`): one JPEG per frame, named by a Python-style
//! template such as `img_{:05}.jpg` (RGB) or `{}_{:05d}.jpg` / `flow_{}_{:05d}.jpg` (optical flow,
//! first field `x`/`y`).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use anyhow::{bail, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::jpeg::read_jpeg;
use super::Frame;

/// A parsed filename template: literal text and up to two `{…}` fields (Python `str.format`
/// subset: `{}`, `{:05}`, `{:05d}`, `{:d}`, and `{video}`, the frame folder's name). With two fields the first is the flow direction
/// (`x`/`y`) and the second the frame number; with one field it is the frame number.
#[derive(Clone, PartialEq, Eq)]
pub struct FilenameTemplate {
    text: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A field; `width` zero-pads integers.
    Field {
        width: usize,
    },
    /// `{video}`: the frame folder's name (AVA's `<video>/<video>_000001.jpg`).
    Video,
}

impl FilenameTemplate {
    /// Parses `text`.
    ///
    /// # Errors
    /// An unbalanced brace, an unsupported format spec, a field wider than
    /// [`Self::MAX_WIDTH`] digits, a path separator or NUL (a template names a file inside the
    /// frame folder, never a path out of it), or not one or two fields.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(c) = text.chars().find(|c| matches!(c, '/' | '\\' | '\0')) {
            bail!(
                "filename template {text:?}: {c:?} is not allowed: a template names a file inside the frame folder (e.g. img_{{:05d}}.jpg)"
            );
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else { bail!("filename template {text:?}: unclosed '{{'") };
            let spec = &rest[open + 1..open + close];
            if spec == "video" {
                parts.push(Part::Video);
                rest = &rest[open + close + 1..];
                continue;
            }
            let fmt = spec.strip_prefix(':').unwrap_or(spec);
            if !spec.is_empty() && !spec.starts_with(':') {
                bail!("filename template {text:?}: only positional fields like {{:05d}} are supported, got {{{spec}}}");
            }
            let digits = fmt.strip_suffix('d').unwrap_or(fmt);
            let width = if digits.is_empty() {
                0
            } else {
                match digits.strip_prefix('0').unwrap_or(digits).parse::<usize>() {
                    Ok(w) if w <= Self::MAX_WIDTH => w,
                    Ok(w) => bail!("filename template {text:?}: a field {w} digits wide; at most {} (e.g. {{:05d}})", Self::MAX_WIDTH),
                    Err(_) => bail!("filename template {text:?}: unsupported format {{{spec}}} (use {{:05d}})"),
                }
            };
            parts.push(Part::Field { width });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        let fields = parts.iter().filter(|p| matches!(p, Part::Field { .. })).count();
        if !(1..=2).contains(&fields) {
            bail!("filename template {text:?}: needs one field (frame number) or two (flow direction, frame number)");
        }
        Ok(FilenameTemplate { text: text.to_string(), parts })
    }

    /// The widest zero-padded field accepted: 20 digits hold any `u64` frame number.
    pub const MAX_WIDTH: usize = 20;

    /// Checks that vpipe can write files under this template: one field (a frame number) and a
    /// JPEG extension (`.jpg`/`.jpeg`, any case), since vpipe writes JPEG bytes (libjpeg-turbo).
    ///
    /// # Errors
    /// Two fields (flow direction) or another extension; the message names the template.
    pub fn check_writable(&self) -> Result<()> {
        if self.has_direction() {
            bail!("filename template {:?}: RGB frames take one field, e.g. img_{{:05d}}.jpg", self.text);
        }
        let ext = self.text.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        if !matches!(ext.as_deref(), Some("jpg" | "jpeg")) || self.text.rsplit_once('.').is_some_and(|(_, e)| e.contains('{')) {
            bail!("filename template {:?}: vpipe writes JPEG frames, so the name must end in .jpg or .jpeg", self.text);
        }
        Ok(())
    }

    /// This template for the frames of folder `folder`: `{video}` replaced by its name.
    pub fn for_folder(&self, folder: &str) -> std::borrow::Cow<'_, Self> {
        if !self.parts.contains(&Part::Video) {
            return std::borrow::Cow::Borrowed(self);
        }
        let parts = self.parts.iter().map(|p| if *p == Part::Video { Part::Literal(folder.to_string()) } else { p.clone() }).collect();
        std::borrow::Cow::Owned(FilenameTemplate { text: self.text.clone(), parts })
    }

    /// Whether the template names a flow direction (two fields).
    pub fn has_direction(&self) -> bool {
        self.parts.iter().filter(|p| matches!(p, Part::Field { .. })).count() == 2
    }

    /// The file name of frame `number` (already offset by start_index), for flow direction
    /// `direction` (`x`/`y`) when the template has two fields (ignored otherwise).
    pub fn render(&self, direction: &str, number: usize) -> String {
        let two = self.has_direction();
        let mut field = 0;
        let mut out = String::with_capacity(self.text.len() + 8);
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Video => out.push_str("{video}"),
                Part::Field { width } => {
                    if two && field == 0 {
                        out.push_str(direction);
                    } else {
                        out.push_str(&format!("{number:0width$}"));
                    }
                    field += 1;
                }
            }
        }
        out
    }
}

impl fmt::Debug for FilenameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl fmt::Display for FilenameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for FilenameTemplate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for FilenameTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FilenameTemplate::parse(&s).map_err(|e| serde::de::Error::custom(format!("{e:#}")))
    }
}

impl schemars::JsonSchema for FilenameTemplate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FilenameTemplate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Python format template with one field (frame number, e.g. img_{:05}.jpg) or two (flow direction, frame number, e.g. {}_{:05d}.jpg)"
        })
    }
}

/// mmaction2 `modality`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Modality {
    /// One RGB JPEG per frame.
    #[default]
    RGB,
    /// Two grayscale JPEGs per frame (x and y flow components), read as `[x0, y0, x1, y1, …]`.
    Flow,
}

impl Modality {
    /// The names [`str::parse`] takes (case-insensitively).
    pub const NAMES: &'static [&'static str] = &["rgb", "flow"];
}

impl std::str::FromStr for Modality {
    type Err = String;

    /// `rgb` or `flow`, any case (mmaction2 writes `RGB` and `Flow`).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rgb" => Ok(Modality::RGB),
            "flow" => Ok(Modality::Flow),
            _ => Err(format!("unknown modality {s:?}: expected RGB or Flow")),
        }
    }
}

/// How a rawframe dataset names its files (mmaction2 `RawframeDataset` settings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawframeSpec {
    /// File name template; default `img_{:05}.jpg` (flow: `{}_{:05d}.jpg`).
    pub filename_tmpl: FilenameTemplate,
    /// Number of the first file: 1 for OpenCV / `vpipe extract-frames`, 0 for denseflow.
    pub start_index: usize,
    /// RGB or Flow.
    pub modality: Modality,
}

impl Default for RawframeSpec {
    fn default() -> Self {
        RawframeSpec { filename_tmpl: FilenameTemplate::parse("img_{:05}.jpg").expect("valid"), start_index: 1, modality: Modality::RGB }
    }
}

impl RawframeSpec {
    /// Checks that the template fits the modality (flow needs the direction field).
    ///
    /// # Errors
    /// A flow spec whose template has one field, or an RGB spec with two.
    pub fn validate(&self) -> Result<()> {
        crate::config::limits::check("start_index", self.start_index, crate::config::limits::START_INDEX)?;
        match (self.modality, self.filename_tmpl.has_direction()) {
            (Modality::Flow, false) => bail!("modality Flow needs a template with a direction field, e.g. '{{}}_{{:05d}}.jpg'"),
            (Modality::RGB, true) => {
                bail!("modality RGB needs a template with one field, e.g. 'img_{{:05}}.jpg', got {}", self.filename_tmpl)
            }
            _ => Ok(()),
        }
    }
}

/// Reads the frames at `frame_inds` from the folder `dir` (mmaction2 `RawFrameDecode`, 0.x):
/// index `i` (already including `start_index`, as [`crate::sample::SampleFrames`] returns it) is
/// file number `i + offset`. RGB gives one 3-channel frame per index; Flow gives two grayscale
/// frames per index, x then y. Repeated indices decode once.
///
/// # Errors
/// A negative file number, or a missing or undecodable file; the message names the file.
pub fn read_rawframes(dir: &Path, offset: usize, spec: &RawframeSpec, frame_inds: &[i64]) -> Result<Vec<Frame>> {
    let mut cache: HashMap<(usize, &str), Frame> = HashMap::new();
    let dirs: &[&str] = match spec.modality {
        Modality::RGB => &[""],
        Modality::Flow => &["x", "y"],
    };
    let folder = dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmpl = spec.filename_tmpl.for_folder(&folder);
    let mut out = Vec::with_capacity(frame_inds.len() * dirs.len());
    for &i in frame_inds {
        let Ok(number) = usize::try_from(i + offset as i64) else { bail!("frame index {i} + offset {offset} is negative") };
        for &d in dirs {
            let frame = match cache.get(&(number, d)) {
                Some(f) => f.clone(),
                None => {
                    let channels = if d.is_empty() { 3 } else { 1 };
                    let f = read_jpeg(&dir.join(tmpl.render(d, number)), channels)?;
                    cache.insert((number, d), f.clone());
                    f
                }
            };
            out.push(frame);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_like_python_format() {
        let t = FilenameTemplate::parse("img_{:05}.jpg").unwrap();
        assert_eq!(t.render("", 46), "img_00046.jpg");
        assert_eq!(FilenameTemplate::parse("img_{:05d}.jpg").unwrap().render("", 0), "img_00000.jpg");
        let f = FilenameTemplate::parse("flow_{}_{:05d}.jpg").unwrap();
        assert!(f.has_direction());
        assert_eq!(f.render("x", 1), "flow_x_00001.jpg");
        assert_eq!(FilenameTemplate::parse("{}_{:05d}.jpg").unwrap().render("y", 12), "y_00012.jpg");
        assert_eq!(FilenameTemplate::parse("{:06d}.jpg").unwrap().render("", 7), "000007.jpg");
        assert_eq!(FilenameTemplate::parse("{}.jpg").unwrap().render("", 7), "7.jpg");
        let ava = FilenameTemplate::parse("{video}_{:06d}.jpg").unwrap();
        assert!(!ava.has_direction());
        assert_eq!(ava.for_folder("-5KQ66BBWC4").render("", 61), "-5KQ66BBWC4_000061.jpg");
        for bad in ["img.jpg", "img_{:05.jpg", "img_{0}.jpg", "{:x}.jpg", "{}{}{}"] {
            assert!(FilenameTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flow_spec_needs_a_direction_field() {
        let mut s = RawframeSpec { modality: Modality::Flow, ..Default::default() };
        assert!(s.validate().is_err());
        s.filename_tmpl = FilenameTemplate::parse("{}_{:05d}.jpg").unwrap();
        assert!(s.validate().is_ok());
    }
}
