//! The frames FFmpeg's MPEG-4 Part 2 decoder will output, read from the stream's headers alone.
//!
//! Streams without pts (DivX packed B-frames in AVI) are numbered by decoder output order, and
//! their packets do not say which of them the decoder turns into frames: a packed packet carries
//! a P- and a B-VOP, a placeholder packet carries a not-coded VOP that makes the decoder output
//! the B-VOP it kept, a 1-byte packet carries nothing. [`VopPredictor`] replays what
//! `ff_h263_decode_frame` and `ff_mpeg4_decode_picture_header` (FFmpeg 5.1, `h263dec.c`,
//! `mpeg4videodec.c`) decide for each packet without decoding a macroblock: which VOP a call
//! decodes (its own, or the one kept from the last call), whether that VOP is coded
//! (`vop_coded`, behind `vop_time_increment`, whose width the VOL header gives), whether a
//! B-VOP is dropped (no reference yet, or its times are out of order), what the call keeps for
//! the next one (`ff_mpeg4_frame_end`), and in which order pictures leave the reorder delay.
//!
//! Anything outside what it replays exactly (interlaced or sprite VOLs, non-rectangular shapes,
//! studio profile, 3ivx/UMP4/WV1F tags, an empty packet, a kept VOP whose keep depends on where
//! macroblock decoding stops) makes it give up: the caller then counts by decoding, as before.
//! A fetch checks every frame it gets against the prediction, so a wrong one costs a second
//! pass, never a wrong frame (see `DecodeMap` in `video.rs`).

/// Packets this short may be a not-coded VOP that makes the decoder output its kept VOP
/// (`MAX_NVOP_SIZE`, bytes).
const MAX_NVOP_SIZE: usize = 19;
const VOP: u8 = 0xB6;
const USER_DATA: u8 = 0xB2;
const GOP: u8 = 0xB3;
const VOS: u8 = 0xB0;

/// MSB-first bit reader; reads past the end give zeros (FFmpeg's buffers are zero-padded).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn show(&self, n: u32) -> u32 {
        (0..n as usize).fold(0, |v, k| {
            let bit = self.data.get((self.pos + k) / 8).map_or(0, |b| (b >> (7 - (self.pos + k) % 8)) & 1);
            v << 1 | bit as u32
        })
    }

    fn read(&mut self, n: u32) -> u32 {
        let v = self.show(n);
        self.pos += n as usize;
        v
    }

    fn bit(&mut self) -> bool {
        self.read(1) == 1
    }
}

/// Offsets of the start codes (`00 00 01 xx`) in `data` and their code byte `xx`.
fn start_codes(data: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    // memchr's SIMD search: every packet is scanned to its end at open and again when fetching,
    // and a byte-by-byte scan was a third of opening a packed-B AVI. `00 00 01` cannot overlap
    // itself, so the non-overlapping matches are all of them.
    memchr::memmem::find_iter(data, &[0, 0, 1]).filter(|&i| i + 3 < data.len()).map(|i| (i, data[i + 3]))
}

/// What `ff_mpeg4_frame_end` keeps of a decoded packet for the next call (DivX packed bitstreams).
#[derive(Debug, PartialEq)]
enum Keep {
    Nothing,
    /// The packet from this byte offset.
    From(usize),
    /// An I- or B-VOP follows, but whether it is kept depends on where macroblock decoding stopped.
    Unknown,
}

/// `ff_mpeg4_frame_end` on a packet whose call decoded a picture: after decoding the picture
/// kept from the last call (`from_kept`), it keeps the whole packet when that is over 7 bytes and
/// its first VOP is an I- or B-VOP; else it keeps the rest of the packet from where decoding
/// stopped (after the first VOP's start, at or before the second's) when the next VOP is an
/// I- or B-VOP and over 7 bytes remain. VOPs start with `00 00 01 B6`; the top two bits after it
/// are the type.
fn kept_by_frame_end(data: &[u8], from_kept: bool) -> Keep {
    let from = if from_kept {
        0
    } else {
        match start_codes(data).filter(|&(_, code)| code == VOP).nth(1) {
            Some((i, _)) => i,
            None => return Keep::Nothing,
        }
    };
    let next = start_codes(&data[from..]).find(|&(i, code)| code == VOP && from + i + 4 < data.len());
    match next {
        Some((i, _)) if data[from + i + 4] & 0x40 == 0 => match (data.len() - from > 7, from_kept) {
            (true, _) => Keep::From(from),
            (false, true) => Keep::Nothing,
            (false, false) => Keep::Unknown,
        },
        _ => Keep::Nothing,
    }
}

/// Whether FFmpeg's MPEG-4 decoder, decoding a picture from this packet (or, `from_kept`, the
/// picture the last call kept), keeps data for the next call ([`kept_by_frame_end`]; when that
/// depends on where decoding stopped, yes: the caller then treats the packet with care).
pub(super) fn keeps_for_next_call(data: &[u8], from_kept: bool) -> bool {
    kept_by_frame_end(data, from_kept) != Keep::Nothing
}

/// What a picture-header parse found (`ff_mpeg4_decode_picture_header`'s outcomes).
#[derive(Debug, PartialEq)]
enum Header {
    /// A coded VOP of this type (0 I, 1 P, 2 B, 3 S).
    Coded { kind: u32 },
    /// Nothing decoded: a not-coded VOP, a B-VOP out of time order, no VOP, or an error.
    Nothing,
}

/// What [`VopPredictor::finish`] gives: every packet's byte position in demux order, and per
/// output frame (in output order) the position of the packet whose call decoded it and whether
/// it is a B-frame: the two halves of `video.rs`'s `DecodeMap`.
pub(crate) type Predicted = (Vec<i64>, Vec<(i64, bool)>);

/// Replays FFmpeg's MPEG-4 Part 2 decoder over a stream's packets, in demux order, to predict
/// its output frames: per frame, the byte position of the packet whose decode call decoded it
/// (`AVFrame.pkt_pos`) and whether it is a B-frame. See the module docs for what it covers.
#[derive(Debug, Default)]
pub(crate) struct VopPredictor {
    codec_tag: [u8; 4],
    extradata: Vec<u8>,
    gave_up: bool,
    /// `divx_packed`: set by DivX user data ending in `p`.
    packed: bool,
    divx: bool,
    xvid: bool,
    lavc: bool,
    /// The first decoded Xvid picture switches to the Xvid IDCT and parses its packet again.
    idct_switched: bool,
    vo_type: u32,
    vol_control: bool,
    low_delay: bool,
    /// VOL `vop_time_increment_resolution` (`avctx->framerate.num`) and its width in bits.
    resolution: i64,
    increment_bits: u32,
    /// `s->picture_number`: coded VOP headers parsed.
    headers: u64,
    time_base: i64,
    last_time_base: i64,
    last_non_b_time: i64,
    pp_time: i64,
    /// The decoder's `bitstream_buffer`: data a packed packet left for the next call.
    kept: Option<Vec<u8>>,
    /// Reference pictures decoded, and the last one's packet position (`next_picture_ptr`,
    /// output when the next reference is decoded unless `low_delay` output it already).
    references: usize,
    waiting: Option<i64>,
    /// Every packet's byte position, in demux order.
    packets: Vec<i64>,
    frames: Vec<(i64, bool)>,
}

impl VopPredictor {
    /// A predictor for a stream with this container codec tag (`AVCodecParameters.codec_tag`)
    /// and extradata.
    pub(crate) fn new(codec_tag: u32, extradata: &[u8]) -> Self {
        let codec_tag = codec_tag.to_le_bytes();
        let gave_up = [*b"3IV1", *b"UMP4", *b"WV1F"].contains(&codec_tag);
        VopPredictor { codec_tag, extradata: extradata.to_vec(), gave_up, ..Default::default() }
    }

    /// One packet, in demux order: `pos` its byte position, `data` its payload.
    pub(crate) fn feed(&mut self, pos: i64, data: &[u8]) {
        if self.gave_up {
            return;
        }
        self.packets.push(pos);
        if data.is_empty() {
            self.gave_up = true; // FFmpeg would take it for the end of the stream
            return;
        }
        if self.packed && self.kept.is_some() && start_codes(data).next().is_some_and(|(_, code)| code == VOS) {
            self.kept = None; // "Discarding excessive bitstream in packed xvid"
        }
        // A call decodes what the last one kept, if anything; either way the keep is used up.
        let kept = self.kept.take().filter(|_| self.packed || data.len() <= MAX_NVOP_SIZE);
        let from_kept = kept.is_some();
        let mut header = self.picture(kept.as_deref().unwrap_or(data));
        if matches!(header, Header::Nothing) {
            return;
        }
        self.detect_from_codec_tag();
        if self.xvid && !self.idct_switched {
            self.idct_switched = true;
            if from_kept {
                self.gave_up = true; // the retry would parse this packet, not the kept data
                return;
            }
            header = self.picture(data);
        }
        let Header::Coded { kind } = header else { return };
        let b = kind == 2;
        if b && self.references < 2 {
            return; // "skip B-frames if we don't have reference frames"
        }
        if self.packed {
            match kept_by_frame_end(data, from_kept) {
                Keep::Nothing => {}
                Keep::From(i) => self.kept = Some(data[i..].to_vec()),
                Keep::Unknown => self.gave_up = true,
            }
        }
        self.output(pos, kind);
    }

    /// Once every packet has been fed: the packets' positions (demux order) and the frames
    /// predicted, in output order; `None` where the stream left what this replays.
    pub(crate) fn finish(mut self) -> Option<Predicted> {
        if let Some(pos) = self.waiting.take().filter(|_| !self.low_delay) {
            self.frames.push((pos, false)); // the drain outputs the last reference
        }
        (!self.gave_up && !self.frames.is_empty()).then_some((self.packets, self.frames))
    }

    /// A decoded picture leaves the decoder: a B-picture (and every picture under `low_delay`)
    /// at once, a reference (`next_picture_ptr`) when the next reference is decoded.
    fn output(&mut self, pos: i64, kind: u32) {
        if kind == 2 {
            self.frames.push((pos, true));
            return;
        }
        if self.waiting.is_none() && kind != 0 {
            self.gave_up = true; // FFmpeg would output a grey stand-in for the missing reference
        }
        if self.low_delay {
            self.frames.push((pos, false));
        } else if let Some(last) = self.waiting {
            self.frames.push((last, false));
        }
        self.waiting = Some(pos);
        self.references += 1;
    }

    /// `ff_mpeg4_decode_picture_header` on `data` (the extradata first while no picture has
    /// been parsed): VOL, user data and GOP headers update the state up to the first VOP.
    fn picture(&mut self, data: &[u8]) -> Header {
        if self.headers == 0 && !self.extradata.is_empty() {
            let extradata = std::mem::take(&mut self.extradata);
            self.headers_before_vop(&extradata);
            self.extradata = extradata;
        }
        match self.headers_before_vop(data) {
            Some(at) => self.vop(&data[at + 4..]),
            None => Header::Nothing,
        }
    }

    /// Parses the headers before the first VOP of `data`; that VOP's start-code offset.
    fn headers_before_vop(&mut self, data: &[u8]) -> Option<usize> {
        let mut vol_seen = false;
        for (at, code) in start_codes(data) {
            let mut bits = Bits { data: &data[at + 4..], pos: 0 };
            match code {
                0x20..=0x2F if !vol_seen => {
                    vol_seen = true;
                    if !self.vol(&mut bits) {
                        return None;
                    }
                }
                USER_DATA => self.user_data(&data[at + 4..]),
                GOP if bits.show(23) != 0 => {
                    let (hours, minutes) = (bits.read(5) as i64, bits.read(6) as i64);
                    bits.read(1);
                    self.time_base = bits.read(6) as i64 + 60 * (minutes + 60 * hours);
                }
                VOS if bits.show(4) == 14 => self.gave_up = true, // studio profile
                VOP => return Some(at),
                _ => {}
            }
        }
        None
    }

    /// `decode_vol_header` up to the sprite usage; false where FFmpeg fails the header.
    fn vol(&mut self, b: &mut Bits) -> bool {
        b.read(1);
        self.vo_type = b.read(8);
        if self.vo_type == 14 || self.vo_type == 15 {
            self.gave_up = true; // studio profile
            return false;
        }
        let verid = if b.bit() {
            let v = b.read(4);
            b.read(3);
            v
        } else {
            1
        };
        if b.read(4) == 15 {
            b.read(16); // extended pixel aspect ratio
        }
        self.vol_control = b.bit();
        if self.vol_control {
            b.read(2);
            self.low_delay = b.bit();
            if b.bit() {
                b.read(15 + 1 + 15 + 1 + 15 + 1 + 3 + 11 + 1 + 15 + 1); // VBV parameters
            }
        } else if self.headers == 0 {
            self.low_delay = self.vo_type == 1 || self.vo_type == 17; // simple, advanced simple
        }
        if b.read(2) != 0 {
            self.gave_up = true; // not a rectangular shape
            return false;
        }
        b.read(1);
        let resolution = b.read(16) as i64;
        if resolution == 0 {
            return false; // "framerate==0"
        }
        self.resolution = resolution;
        // av_log2(resolution - 1) + 1, at least 1
        self.increment_bits = (64 - ((resolution - 1) as u64).leading_zeros()).max(1);
        b.read(1);
        if b.bit() {
            b.read(self.increment_bits); // fixed_vop_time_increment
        }
        b.read(1 + 13 + 1 + 13 + 1); // width, height and their markers
        let interlaced = b.bit();
        b.read(1); // obmc_disable
        let sprites = b.read(if verid == 1 { 1 } else { 2 });
        if interlaced || sprites != 0 {
            self.gave_up = true;
            return false;
        }
        true
    }

    /// `decode_user_data`: DivX (and whether packed), libavcodec and Xvid signatures.
    fn user_data(&mut self, data: &[u8]) {
        let end = data.windows(3).position(|w| w == [0, 0, 1]).unwrap_or(data.len()).min(255);
        let text = &data[..end];
        let text = &text[..text.iter().position(|&c| c == 0).unwrap_or(text.len())];
        let text = String::from_utf8_lossy(text);
        let divx = scan_divx(&text, "Build").or_else(|| scan_divx(&text, "b"));
        if let Some(last) = divx {
            self.divx = true;
            self.packed = last == Some('p');
        }
        if lavc_signature(&text) {
            self.lavc = true;
        }
        if text.strip_prefix("XviD").and_then(leading_int).is_some() {
            self.xvid = true;
        }
    }

    /// `ff_mpeg4_workaround_bugs`' encoder guesses from the codec tag.
    fn detect_from_codec_tag(&mut self) {
        if !self.xvid && !self.divx && !self.lavc {
            if [*b"XVID", *b"XVIX", *b"RMP4", *b"ZMP4", *b"SIPP"].contains(&self.codec_tag) {
                self.xvid = true;
            } else if &self.codec_tag == b"DIVX" && self.vo_type == 0 && !self.vol_control {
                self.divx = true;
            }
        }
        if self.xvid {
            self.divx = false;
        }
    }

    /// `decode_vop_header` up to `vop_coded`: the picture type, the time fields that decide
    /// whether a B-VOP is dropped, and whether the VOP is coded at all.
    fn vop(&mut self, data: &[u8]) -> Header {
        let mut b = Bits { data, pos: 0 };
        let kind = b.read(2);
        if kind == 2 && self.low_delay && !self.vol_control {
            self.low_delay = false; // "low_delay flag set incorrectly, clearing it"
        }
        let mut time_incr = 0i64;
        while b.bit() {
            time_incr += 1;
            if b.pos > data.len() * 8 {
                return Header::Nothing;
            }
        }
        b.read(1);
        if self.increment_bits == 0 || b.show(self.increment_bits + 1) & 1 == 0 {
            // A missing VOL: FFmpeg guesses the width from where the next markers fall.
            self.increment_bits =
                (1..16).find(|&n| if kind == 1 { b.show(n + 6) & 0x37 == 0x30 } else { b.show(n + 5) & 0x1F == 0x18 }).unwrap_or(16);
            if self.resolution != 0 && 4 * self.resolution < 1 << self.increment_bits {
                self.resolution = 1 << self.increment_bits;
            }
        }
        let increment = b.read(self.increment_bits) as i64;
        if kind != 2 {
            self.last_time_base = self.time_base;
            self.time_base += time_incr;
            let time = self.time_base * self.resolution + increment;
            self.pp_time = time - self.last_non_b_time;
            self.last_non_b_time = time;
        } else {
            let time = (self.last_time_base + time_incr) * self.resolution + increment;
            let pb_time = self.pp_time - (self.last_non_b_time - time);
            if self.pp_time <= pb_time || self.pp_time <= self.pp_time - pb_time || self.pp_time <= 0 {
                return Header::Nothing; // "messed up order": FFmpeg skips this B-frame
            }
        }
        b.read(1);
        if !b.bit() {
            return Header::Nothing; // vop_coded = 0
        }
        if self.vo_type == 0 && !self.vol_control && !self.divx && self.headers == 0 {
            self.low_delay = true; // divx4/old xvid/opendivx without the flag
        }
        self.headers += 1;
        Header::Coded { kind }
    }
}

/// `sscanf(text, "DivX%d<sep>%d%c")` succeeding at least twice: `Some(the %c, if any)`.
fn scan_divx(text: &str, sep: &str) -> Option<Option<char>> {
    let rest = text.strip_prefix("DivX")?;
    let (_, rest) = leading_int(rest)?;
    let rest = rest.strip_prefix(sep)?;
    let (_, rest) = leading_int(rest)?;
    Some(rest.chars().next())
}

/// `decode_user_data`'s libavcodec signatures: `FFmpe…b<int>`, `FFmpeg v<int>.<int>.<int> /
/// libavcodec build: <int>`, `Lavc<int>.<int>.<int>`, or exactly `ffmpeg`.
fn lavc_signature(text: &str) -> bool {
    let ffmpe = text.strip_prefix("FFmpe").and_then(|t| t.split_once('b')).and_then(|(_, t)| leading_int(t)).is_some();
    let ffmpeg_v =
        text.strip_prefix("FFmpeg v").and_then(dotted).and_then(|t| t.strip_prefix(" / libavcodec build:")).and_then(leading_int);
    ffmpe || ffmpeg_v.is_some() || text.strip_prefix("Lavc").and_then(dotted).is_some() || text == "ffmpeg"
}

/// `%d.%d.%d`: the rest after three dotted integers.
fn dotted(t: &str) -> Option<&str> {
    let (_, t) = leading_int(t)?;
    let (_, t) = leading_int(t.strip_prefix('.')?)?;
    leading_int(t.strip_prefix('.')?).map(|(_, rest)| rest)
}

/// `%d`: optional whitespace, sign and digits; the value and the rest.
fn leading_int(text: &str) -> Option<(i64, &str)> {
    let t = text.trim_start();
    let sign = usize::from(t.starts_with(['-', '+']));
    let digits = t[sign..].bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| (t[..sign + digits].parse().unwrap_or(0), &t[sign + digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P_VOP: [u8; 5] = [0, 0, 1, 0xB6, 0x40];
    const B_VOP: [u8; 5] = [0, 0, 1, 0xB6, 0x80];

    #[test]
    fn packed_packets_keep_their_second_i_or_b_vop_for_the_next_call() {
        let packed = [&P_VOP[..], &[7; 40], &B_VOP, &[9; 20]].concat();
        assert_eq!(kept_by_frame_end(&packed, false), Keep::From(45), "P + B: the B is kept");
        assert!(!keeps_for_next_call(&[&B_VOP[..], &[7; 40], &P_VOP, &[9; 20]].concat(), false), "a second P-VOP is not kept");
        assert!(!keeps_for_next_call(&[&B_VOP[..], &[7; 40]].concat(), false), "one VOP: nothing kept");
        let short_tail = [&P_VOP[..], &[7; 40], &B_VOP, &[9; 2]].concat();
        assert_eq!(kept_by_frame_end(&short_tail, false), Keep::Unknown, "7 bytes left: depends on where decoding stopped");
        // Decoding a kept picture, the packet's own data is kept whole when it starts an I/B-VOP.
        assert_eq!(kept_by_frame_end(&[&B_VOP[..], &[7; 40]].concat(), true), Keep::From(0));
        assert!(!keeps_for_next_call(&[0, 0, 1, 0xB6, 0x80, 0x11], true), "an N-VOP placeholder of 6 bytes");
    }

    #[test]
    fn start_codes_are_found_back_to_back_and_only_with_their_code_byte() {
        // Zero runs before a prefix, prefixes back to back, and one without its code byte at the end.
        let data = [0, 0, 0, 0, 1, 0xB6, 0, 0, 1, 0x20, 0, 0, 1, 0, 0, 1, 0xB2, 7, 0, 0, 1];
        let found: Vec<(usize, u8)> = start_codes(&data).collect();
        assert_eq!(found, [(2, 0xB6), (6, 0x20), (10, 0), (13, 0xB2)]);
        assert_eq!(start_codes(&[0, 0, 1]).count(), 0, "no code byte: no start code");
    }

    #[test]
    fn divx_user_data_says_whether_b_frames_are_packed() {
        assert_eq!(scan_divx("DivX503b1393p", "b"), Some(Some('p')));
        assert_eq!(scan_divx("DivX503b2816", "b"), Some(None));
        assert_eq!(scan_divx("DivX501Build413p", "Build"), Some(Some('p')));
        assert_eq!(scan_divx("XviD0050", "b"), None);
        assert!(lavc_signature("Lavc59.37.100") && lavc_signature("ffmpeg") && lavc_signature("FFmpeg0.4.9-pre1b4718"));
        assert!(!lavc_signature("Lavc") && !lavc_signature("Lavc59") && !lavc_signature("ffmpeg2"));
        let mut p = VopPredictor::new(0, &[]);
        p.user_data(b"DivX503b1393p\0\0\0\x01");
        assert!(p.packed && p.divx && !p.xvid);
        p.user_data(b"XviD0055");
        assert!(p.xvid);
    }

    /// MSB-first bit writer for hand-made headers.
    #[derive(Default)]
    struct Writer {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl Writer {
        fn put(mut self, n: u32, v: u32) -> Self {
            for k in (0..n).rev() {
                if self.bits.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                *self.bytes.last_mut().unwrap() |= (((v >> k) & 1) as u8) << (7 - self.bits % 8);
                self.bits += 1;
            }
            self
        }

        /// A start code, after zero bits up to the next byte.
        fn start(self, code: u8) -> Self {
            let pad = (8 - self.bits % 8) % 8;
            self.put(pad as u32, 0).put(32, 0x100 | code as u32)
        }
    }

    /// VOL: advanced simple, VOL control with `low_delay` 0, 25 ticks per second (5-bit
    /// increments), 96x64, progressive or not.
    fn vol(interlaced: bool) -> Writer {
        let w = Writer::default().start(0x20).put(1, 0).put(8, 17).put(1, 0).put(4, 1);
        let w = w.put(1, 1).put(2, 1).put(1, 0).put(1, 0).put(2, 0).put(1, 1).put(16, 25).put(1, 1).put(1, 0);
        w.put(1, 1).put(13, 96).put(1, 1).put(13, 64).put(1, 1).put(1, interlaced as u32).put(1, 1).put(1, 0)
    }

    /// A VOP of `kind` (0 I, 1 P, 2 B) at `tick` (whole seconds 0), coded or not, with a body.
    fn vop(w: Writer, kind: u32, tick: u32, coded: bool) -> Writer {
        let w = w.start(VOP).put(2, kind).put(1, 0).put(1, 1).put(5, tick).put(1, 1).put(1, coded as u32).put(7, 0);
        if coded {
            (0..24).fold(w, |w, _| w.put(8, 0x55))
        } else {
            w
        }
    }

    fn predict(packets: &[Vec<u8>]) -> Option<Vec<(i64, bool)>> {
        let mut p = VopPredictor::new(u32::from_le_bytes(*b"DX50"), &[]);
        for (k, data) in packets.iter().enumerate() {
            p.feed(100 * (k as i64 + 1), data);
        }
        p.finish().map(|(packets, frames)| {
            assert_eq!(packets, (1..=packets.len() as i64).map(|k| 100 * k).collect::<Vec<_>>(), "every packet, in order");
            frames
        })
    }

    /// DivX packed B-frames as in mmaction2's test.avi: decode order I0 | P3+B1 | B2 | N-VOP |
    /// P6+B4 | B5 | N-VOP. Each call decodes the VOP the last one kept, B-frames take the
    /// position of the packet whose call decoded them, references leave one reference late.
    #[test]
    fn packed_b_frames_come_out_of_the_packets_ffmpeg_decodes_them_in() {
        let user = |w: Writer| b"DivX503b1393p".iter().fold(w.start(USER_DATA), |w, &c| w.put(8, c as u32));
        let first = vop(user(vol(false)), 0, 0, true).bytes;
        let packed = |p: u32, b: u32| vop(vop(Writer::default(), 1, p, true), 2, b, true).bytes;
        let single_b = |t: u32| vop(Writer::default(), 2, t, true).bytes;
        let n_vop = vop(Writer::default(), 1, 0, false).bytes;
        assert!(n_vop.len() <= 7, "a placeholder");
        let packets = [vec![0x7F], first, packed(3, 1), single_b(2), n_vop.clone(), packed(6, 4), single_b(5), n_vop];
        let frames = predict(&packets).expect("replayable");
        // Positions: the 1-byte packet is 100 and makes nothing; I0 200, P3+B1 300, B2 400, ...
        let want = [(200, false), (400, true), (500, true), (300, false), (700, true), (800, true), (600, false)];
        assert_eq!(frames, want);
    }

    #[test]
    fn what_is_not_replayed_exactly_gives_up() {
        let interlaced = vop(vol(true), 0, 0, true).bytes;
        assert_eq!(predict(&[interlaced]), None, "interlaced VOL");
        let plain = vop(vol(false), 0, 0, true).bytes;
        assert_eq!(predict(&[plain.clone(), vec![]]), None, "an empty packet");
        let p_first = vop(vol(false), 1, 0, true).bytes;
        assert_eq!(predict(&[p_first]), None, "no I-frame before the first P-frame");
        // Not packed: a B-VOP before a second reference is dropped, a not-coded VOP makes nothing.
        let b = vop(Writer::default(), 2, 1, true).bytes;
        let n_vop = vop(Writer::default(), 1, 0, false).bytes;
        assert_eq!(predict(&[plain.clone(), b, n_vop]), Some(vec![(100, false)]));
        let mut tag = VopPredictor::new(u32::from_le_bytes(*b"3IV1"), &[]);
        tag.feed(0, &plain);
        assert_eq!(tag.finish(), None, "3ivx time increments are not replayed");
    }

    #[test]
    fn bits_read_msb_first_and_zero_past_the_end() {
        let mut b = Bits { data: &[0b1010_0000, 0xFF], pos: 0 };
        assert_eq!(b.read(3), 0b101);
        assert_eq!(b.show(13), 0b0_0000_1111_1111);
        b.read(13);
        assert_eq!(b.read(8), 0);
    }
}
