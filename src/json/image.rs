//! Whole images as CRIT JSON: `{"magic": NAME, "entries": [...]}`, each entry
//! its message's fields plus `"extra"` for its payload.

use serde_json::Value as Json;

use super::parse::{JsonError, message_from_json};
use super::render::write_fields;
use super::text::base64_decode;
use super::writer::JsonWriter;
use crate::image::{
    Entry, EntryMessage, EntryRef, Image, ImageError, Layout, Magic, Payload, PayloadKind,
    PayloadRef, Refused, encode_entry, encode_magic, read_magic, shown_size,
};
use crate::message::Message;
use crate::schema::Schema;

/// How to render an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// CRIT's `--pretty`: indented, with hex, flags, devices, IPs and names.
    pub pretty: bool,
    /// CRIT's `--nopl`: payloads replaced by `"... <SIZE>"`.
    pub no_payload: bool,
}

/// Renders an image exactly as CRIT's `decode` does (without the final newline).
pub fn image_to_json(img: &Image, opts: RenderOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + img.entries.len() * 128);
    write_image(&mut out, img, opts);
    out
}

/// Decodes image bytes straight to CRIT JSON, entry by entry: each entry is
/// rendered and dropped before the next is decoded.
pub fn decode_image_to_json(buf: &[u8], opts: RenderOptions) -> Result<Vec<u8>, ImageError> {
    let (magic, start) = read_magic(buf)?;
    let mut out = Vec::with_capacity(buf.len().saturating_mul(4).min(1 << 30) + 256);
    let mut w = JsonWriter::new(&mut out, opts.pretty);
    write_decoded(&mut w, buf, magic, start, opts)?;
    Ok(out)
}

/// Why [`decode_image_to_writer`] failed.
#[derive(Debug)]
pub enum DecodeWriteError {
    Image(ImageError),
    Io(std::io::Error),
}

/// [`decode_image_to_json`] into a sink, in pieces of about 1 MiB: memory
/// holds one entry and one piece of output, not the whole text. On an error
/// the sink may have received part of the text.
pub fn decode_image_to_writer(
    buf: &[u8],
    opts: RenderOptions,
    sink: &mut dyn std::io::Write,
) -> Result<(), DecodeWriteError> {
    let (magic, start) = read_magic(buf).map_err(DecodeWriteError::Image)?;
    let mut out = Vec::with_capacity(2 << 20);
    let mut w = JsonWriter::with_sink(&mut out, sink, opts.pretty);
    write_decoded(&mut w, buf, magic, start, opts).map_err(DecodeWriteError::Image)?;
    w.finish().map_err(DecodeWriteError::Io)
}

fn write_decoded(
    w: &mut JsonWriter,
    buf: &[u8],
    magic: Magic,
    start: usize,
    opts: RenderOptions,
) -> Result<(), ImageError> {
    write_head(w, magic);
    Image::render_entries(buf, magic, start, |e| {
        // Once the sink has failed, the rest is dropped: finish() reports it.
        if w.failed() {
            return Ok(());
        }
        write_entry(w, magic, &e, opts)
    })?;
    write_tail(w);
    Ok(())
}

fn write_head(w: &mut JsonWriter, magic: Magic) {
    w.begin_object();
    w.key("magic");
    w.string(magic.name);
    w.key("entries");
    w.begin_array();
}

/// Writes one entry; a message left as wire bytes may be refused
/// ([`super::wire::write_message_fields`]), having written nothing of the
/// entry if it is `Irregular`.
fn write_entry(
    w: &mut JsonWriter,
    magic: Magic,
    e: &EntryRef,
    opts: RenderOptions,
) -> Result<(), Refused> {
    let mark = w.mark();
    w.begin_object();
    match &e.msg {
        EntryMessage::Decoded(m) => write_fields(w, m, opts.pretty, false),
        EntryMessage::Wire { msg_type, body } | EntryMessage::Unchecked { msg_type, body } => {
            let schema = Schema::get();
            let r = super::wire::write_message_fields(
                w,
                schema,
                *msg_type,
                body,
                0,
                opts.pretty,
                false,
            );
            if let Err(refused) = r {
                if refused == Refused::Irregular {
                    w.undo(mark);
                }
                return Err(refused);
            }
        }
    }
    write_extra(w, magic, e, opts);
    w.end_object();
    Ok(())
}

fn write_tail(w: &mut JsonWriter) {
    w.end_array();
    w.end_object();
}

/// Appends the JSON of an image to `out`.
pub fn write_image(out: &mut Vec<u8>, img: &Image, opts: RenderOptions) {
    let mut w = JsonWriter::new(out, opts.pretty);
    write_head(&mut w, img.magic);
    for e in &img.entries {
        let e = EntryRef {
            msg: EntryMessage::Decoded(e.msg.clone()),
            payload: e.payload.as_ref(),
        };
        // A decoded message is never refused.
        let _ = write_entry(&mut w, img.magic, &e, opts);
    }
    write_tail(&mut w);
}

fn write_extra(w: &mut JsonWriter, magic: Magic, e: &EntryRef, opts: RenderOptions) {
    let kind = match magic.layout {
        Layout::Entries(_, PayloadKind::None) | Layout::Pagemap | Layout::NotEntries => return,
        // CRIT shows no placeholder for ghost data.
        Layout::Ghost if opts.no_payload => return,
        Layout::Ghost => None,
        Layout::Entries(_, kind) => Some(kind),
    };
    if e.payload == PayloadRef::None {
        return;
    }
    w.key("extra");
    if opts.no_payload {
        let kind = kind.expect("ghost handled above");
        w.string(&format!(
            "... <{}>",
            human_size(shown_size(kind, &e.msg, &e.payload))
        ));
        return;
    }
    match &e.payload {
        PayloadRef::None => unreachable!(),
        PayloadRef::Raw(d) => w.base64(d),
        PayloadRef::Tcp { inq, outq } => {
            w.begin_object();
            w.key("inq");
            w.base64(inq);
            w.key("outq");
            w.base64(outq);
            w.end_object();
        }
        PayloadRef::Sem(s) => {
            w.begin_array();
            for v in s {
                w.u64(u64::from(*v));
            }
            w.end_array();
        }
        PayloadRef::Msgs(ms) => {
            w.begin_array();
            for (m, d) in ms {
                // CRIT renders queued message headers without pretty rules.
                w.begin_object();
                write_fields(w, m, false, false);
                w.end_object();
                w.base64(d);
            }
            w.end_array();
        }
    }
}

/// CRIT's human-readable size: `80B`, `1.5KB`, `2MB`.
pub fn human_size(n: u64) -> String {
    let units = ["", "K", "M", "G", "T", "P", "E", "Z"];
    for (k, unit) in units.iter().enumerate() {
        let div = 1u128 << (10 * k);
        let n = u128::from(n);
        if n < div * 1024 {
            if n % div == 0 {
                return format!("{}{unit}B", n / div);
            }
            return format!("{}{unit}B", tenths(n, div));
        }
    }
    format!("{}YB", tenths(u128::from(n), 1u128 << 80))
}

/// `"%.1f" % (n / div)`, rounding half to even as Python does for exact binary values.
fn tenths(n: u128, div: u128) -> String {
    let scaled = n * 10;
    let (mut q, r) = (scaled / div, scaled % div);
    if r * 2 > div || (r * 2 == div && q % 2 == 1) {
        q += 1;
    }
    format!("{}.{}", q / 10, q % 10)
}

fn fail<T>(path: &str, what: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError {
        path: path.to_string(),
        what: what.into(),
    })
}

/// Builds an image from CRIT JSON (either `decode` or `decode --pretty` form).
pub fn image_from_json(json: &Json) -> Result<Image, JsonError> {
    let (magic, items) = top_from_json(json)?;
    let mut b = EntryBuilder::new(magic);
    let entries = items
        .iter()
        .map(|item| b.entry(item))
        .collect::<Result<Vec<_>, _>>()?;
    b.finish()?;
    Ok(Image { magic, entries })
}

/// The checks of an image's top level: its magic and its list of entries.
fn top_from_json(json: &Json) -> Result<(Magic, &[Json]), JsonError> {
    let Json::Object(top) = json else {
        return fail("(top)", "expected an object with \"magic\" and \"entries\"");
    };
    if let Some(k) = top.keys().find(|k| *k != "magic" && *k != "entries") {
        return fail(
            k,
            format!("unknown key {k:?} (an image has only \"magic\" and \"entries\")"),
        );
    }
    let magic = magic_from_json(top.get("magic"))?;
    match top.get("entries") {
        Some(Json::Array(a)) => Ok((magic, a)),
        Some(_) => fail("entries", "expected a list"),
        None => fail("entries", "missing"),
    }
}

fn magic_from_json(v: Option<&Json>) -> Result<Magic, JsonError> {
    match v {
        Some(Json::String(s)) => match Magic::by_name(s) {
            Some(m) if m.layout != Layout::NotEntries => Ok(m),
            _ => fail(
                "magic",
                format!("unknown image magic {}", super::parse::quoted(s)),
            ),
        },
        Some(_) => fail("magic", "expected a string"),
        None => fail("magic", "missing"),
    }
}

/// Turns an image's entries into [`Entry`]s one at a time, in order, checking
/// what spans entries (a pagemap's head, a ghost file's chunks).
pub struct EntryBuilder {
    magic: Magic,
    /// Index of the next entry.
    index: usize,
    /// Whether the first entry of a ghost file says "chunks".
    ghost_chunks: Option<bool>,
}

impl EntryBuilder {
    pub fn new(magic: Magic) -> EntryBuilder {
        EntryBuilder {
            magic,
            index: 0,
            ghost_chunks: None,
        }
    }

    /// A builder whose next entry is number `index`, for images whose
    /// entries do not depend on each other (not ghost files).
    pub(super) fn at(magic: Magic, index: usize) -> EntryBuilder {
        EntryBuilder {
            index,
            ..EntryBuilder::new(magic)
        }
    }

    /// The next entry, from its JSON object.
    pub fn entry(&mut self, item: &Json) -> Result<Entry, JsonError> {
        let i = self.index;
        self.index += 1;
        let schema = Schema::get();
        let id = |name: &str| {
            schema
                .message_id(name)
                .expect("magic table names schema messages")
        };
        let path = format!("entries[{i}]");
        let extra = item.as_object().and_then(|o| o.get("extra"));
        let xpath = || format!("{path}.extra");
        Ok(match self.magic.layout {
            Layout::Pagemap => {
                let name = if i == 0 {
                    "pagemap_head"
                } else {
                    "pagemap_entry"
                };
                Entry {
                    msg: message_from_json(id(name), item, &path, &[])?,
                    payload: Payload::None,
                }
            }
            Layout::Ghost => {
                let chunked = i > 0;
                let name = if chunked {
                    "ghost_chunk_entry"
                } else {
                    "ghost_file_entry"
                };
                let msg = message_from_json(id(name), item, &path, &["extra"])?;
                if i == 0 {
                    self.ghost_chunks = Some(msg.bool("chunks") == Some(true));
                } else if self.ghost_chunks != Some(true) {
                    return fail(
                        &path,
                        "a ghost file without \"chunks\" has exactly one entry",
                    );
                }
                let payload = if i == 0 && self.ghost_chunks == Some(true) {
                    if extra.is_some() {
                        return fail(
                            &xpath(),
                            "a chunked ghost file keeps its data in the chunk entries",
                        );
                    }
                    Payload::None
                } else {
                    let data = raw_extra(extra, &xpath())?;
                    if chunked {
                        expect_len(&xpath(), data.len(), msg.u64("len").unwrap_or(0), "len")?;
                    }
                    Payload::Raw(data)
                };
                Entry { msg, payload }
            }
            Layout::Entries(name, kind) => {
                let msg = message_from_json(id(name), item, &path, &["extra"])?;
                let payload = payload_from_json(kind, &msg, extra, &xpath())?;
                Entry { msg, payload }
            }
            Layout::NotEntries => unreachable!("magic_from_json refuses these"),
        })
    }

    /// Checks the image once all entries are in.
    pub fn finish(&self) -> Result<(), JsonError> {
        if self.magic.layout == Layout::Ghost && self.index == 0 {
            return fail("entries", "a ghost file image needs its ghost_file_entry");
        }
        Ok(())
    }
}

/// Why [`encode_json_text`] failed.
#[derive(Debug)]
pub enum EncodeError {
    /// Not JSON.
    Syntax(serde_json::Error),
    /// JSON that does not fit the image schema.
    Schema(JsonError),
    Image(ImageError),
}

/// Encodes CRIT JSON text to image bytes: straight from the text when
/// `direct` can (the common case), else through JSON and message trees.
/// Either way the bytes and errors are those of [`encode_json_text_tree`].
pub fn encode_json_text(text: &[u8]) -> Result<Vec<u8>, EncodeError> {
    match super::direct::encode(text) {
        Some(bytes) => Ok(bytes),
        None => encode_json_text_tree(text),
    }
}

/// Encodes CRIT JSON read from `input` (`len` bytes long, if known) into
/// `sink` when the fast path can, holding a few MiB of each in memory
/// whatever their size. Ok(false) when
/// the text needs [`encode_json_text`] (`sink` may then hold part of an image).
pub fn encode_json_stream(
    input: &mut dyn std::io::Read,
    len: Option<u64>,
    sink: &mut dyn std::io::Write,
) -> std::io::Result<bool> {
    super::direct::encode_stream(input, len, sink)
}

/// [`encode_json_stream`] of a mapped file.
pub fn encode_json_mapped(
    text: &crate::mapped::Mapping,
    sink: &mut dyn std::io::Write,
) -> std::io::Result<bool> {
    super::direct::encode_mapped(text, sink)
}

/// [`encode_json_mapped`] of a text in memory, `read` bytes or more in
/// view at a time (for the fuzzer: the mapped window without a mapping).
#[doc(hidden)]
pub fn encode_json_revealed_by(
    text: &[u8],
    sink: &mut dyn std::io::Write,
    read: usize,
) -> std::io::Result<bool> {
    super::direct::encode_revealed_by(text, sink, read)
}

/// [`encode_json_stream`] reading `read` bytes or more at a time (for the
/// fuzzer: windows far smaller than the real 16 MiB).
#[doc(hidden)]
pub fn encode_json_stream_by(
    input: &mut dyn std::io::Read,
    sink: &mut dyn std::io::Write,
    read: usize,
) -> std::io::Result<bool> {
    super::direct::encode_stream_by(input, sink, read)
}

/// Encodes CRIT JSON text to image bytes while it is parsed: each entry is
/// encoded as soon as its object has been read and then dropped, so memory
/// holds one entry's JSON tree, not the whole document's. Gives exactly the
/// bytes and errors of `strict::parse`, then `image_from_json`, then
/// `Image::encode`: an entry's error is kept until the whole text has been
/// read and the top level checked.
pub fn encode_json_text_tree(text: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut st = Stream {
        builder: None,
        pending: Vec::new(),
        // Base64 payloads shrink by a quarter; other JSON far more.
        out: Vec::with_capacity(text.len() / 4 * 3 + 64),
        failure: None,
    };
    let top = super::strict::parse_streaming_entries(text, &mut |top, _, item| st.entry(top, item))
        .map_err(EncodeError::Syntax)?;
    // The checks of image_from_json, in its order ("entries" is empty here).
    let (magic, _) = top_from_json(&top).map_err(EncodeError::Schema)?;
    if let Some(e) = st.failure {
        return Err(e);
    }
    if st.builder.is_none() {
        // "magic" came after "entries": encode what was kept.
        st.start(magic);
        for item in std::mem::take(&mut st.pending) {
            st.push(item)?;
        }
    }
    let builder = st.builder.as_ref().expect("started above");
    builder.finish().map_err(EncodeError::Schema)?;
    Ok(st.out)
}

/// The state of [`encode_json_text`].
struct Stream {
    /// Set once a valid magic has been read before the entries.
    builder: Option<EntryBuilder>,
    /// Entries read before any magic.
    pending: Vec<Json>,
    /// The image: its magic, then each entry.
    out: Vec<u8>,
    /// The first entry that failed; later entries are only read.
    failure: Option<EncodeError>,
}

impl Stream {
    fn start(&mut self, magic: Magic) {
        encode_magic(magic, &mut self.out);
        self.builder = Some(EntryBuilder::new(magic));
    }

    /// One element of "entries"; `top` holds the top-level keys read before it.
    fn entry(&mut self, top: &serde_json::Map<String, Json>, item: Json) {
        if self.failure.is_some() {
            return;
        }
        if self.builder.is_none() {
            match magic_from_json(top.get("magic")) {
                Ok(magic) => self.start(magic),
                // No magic yet: keep the entry. A bad one: the top-level
                // check reports it, entries are not looked at.
                Err(_) if top.contains_key("magic") => return,
                Err(_) => return self.pending.push(item),
            }
        }
        if let Err(e) = self.push(item) {
            self.failure = Some(e);
        }
    }

    fn push(&mut self, item: Json) -> Result<(), EncodeError> {
        let b = self.builder.as_mut().expect("started");
        let index = b.index;
        let entry = b.entry(&item).map_err(EncodeError::Schema)?;
        drop(item); // before the entry's bytes are copied out: payloads are big
        encode_entry(index, &entry, &mut self.out).map_err(EncodeError::Image)
    }
}

fn raw_extra(extra: Option<&Json>, path: &str) -> Result<Vec<u8>, JsonError> {
    match extra {
        None => fail(path, "missing payload"),
        Some(Json::String(s)) if s.starts_with("... <") => fail(
            path,
            format!(
                "{s:?} is a --nopl placeholder, not the payload; decode without --nopl to edit"
            ),
        ),
        Some(Json::String(s)) => base64_decode(s).or_else(|e| fail(path, e)),
        Some(_) => fail(path, "expected a base64 string"),
    }
}

fn expect_len(path: &str, have: usize, want: u64, field: &str) -> Result<(), JsonError> {
    if have as u64 != want {
        return fail(
            path,
            format!("payload has {have} bytes but {field} says {want}"),
        );
    }
    Ok(())
}

fn payload_from_json(
    kind: PayloadKind,
    msg: &Message,
    extra: Option<&Json>,
    path: &str,
) -> Result<Payload, JsonError> {
    let f = |name: &str| msg.u64(name).unwrap_or(0);
    Ok(match kind {
        PayloadKind::None => {
            if extra.is_some() {
                return fail(path, "this image kind has no payload");
            }
            Payload::None
        }
        PayloadKind::PipeData | PayloadKind::SkQueue | PayloadKind::BpfMapData => {
            let data = raw_extra(extra, path)?;
            let (want, name) = match kind {
                PayloadKind::PipeData => (f("bytes"), "bytes"),
                PayloadKind::SkQueue => (f("length"), "length"),
                _ => (
                    f("keys_bytes") + f("values_bytes"),
                    "keys_bytes + values_bytes",
                ),
            };
            expect_len(path, data.len(), want, name)?;
            Payload::Raw(data)
        }
        PayloadKind::TcpStream => {
            let Some(Json::Object(q)) = extra else {
                return fail(path, "expected {\"inq\": …, \"outq\": …}");
            };
            if let Some(k) = q.keys().find(|k| *k != "inq" && *k != "outq") {
                return fail(
                    &format!("{path}.{k}"),
                    "unknown key (expected inq and outq)",
                );
            }
            let inq = raw_extra(q.get("inq"), &format!("{path}.inq"))?;
            let outq = raw_extra(q.get("outq"), &format!("{path}.outq"))?;
            expect_len(&format!("{path}.inq"), inq.len(), f("inq_len"), "inq_len")?;
            expect_len(
                &format!("{path}.outq"),
                outq.len(),
                f("outq_len"),
                "outq_len",
            )?;
            Payload::Tcp { inq, outq }
        }
        PayloadKind::IpcSem => {
            let Some(Json::Array(vals)) = extra else {
                return fail(path, "expected a list of semaphore values");
            };
            let mut sems = Vec::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                match v.as_u64().and_then(|x| u16::try_from(x).ok()) {
                    Some(x) => sems.push(x),
                    None => {
                        return fail(
                            &format!("{path}[{i}]"),
                            format!("{v} is not a semaphore value (0..=65535)"),
                        );
                    }
                }
            }
            expect_len(path, sems.len(), f("nsems"), "nsems")?;
            Payload::Sem(sems)
        }
        PayloadKind::IpcMsg => {
            let Some(Json::Array(vals)) = extra else {
                return fail(
                    path,
                    "expected a list alternating message headers and base64 data",
                );
            };
            if vals.len() % 2 != 0 {
                return fail(path, "expected pairs of message header and data");
            }
            let id = Schema::get()
                .message_id("ipc_msg")
                .expect("schema has ipc_msg");
            let mut msgs = Vec::with_capacity(vals.len() / 2);
            for (i, pair) in vals.chunks(2).enumerate() {
                let m = message_from_json(id, &pair[0], &format!("{path}[{}]", 2 * i), &[])?;
                let dpath = format!("{path}[{}]", 2 * i + 1);
                let data = raw_extra(Some(&pair[1]), &dpath)?;
                expect_len(&dpath, data.len(), m.u64("msize").unwrap_or(0), "msize")?;
                msgs.push((m, data));
            }
            expect_len(path, msgs.len(), f("qnum"), "qnum")?;
            Payload::Msgs(msgs)
        }
        PayloadKind::IpcShm => {
            if msg.bool("in_pagemaps") == Some(true) {
                if extra.is_some() {
                    return fail(
                        path,
                        "segment data lives in the pagemap images when in_pagemaps is true",
                    );
                }
                Payload::None
            } else {
                let data = raw_extra(extra, path)?;
                expect_len(path, data.len(), f("size"), "size")?;
                Payload::Raw(data)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes `left` bytes, then fails.
    struct Failing {
        left: usize,
        got: Vec<u8>,
    }

    impl std::io::Write for Failing {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            let n = b.len().min(self.left);
            self.left -= n;
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A pipe holding `n` bytes of data, as an image.
    fn pipe_image(n: usize) -> Vec<u8> {
        let text = format!(
            r#"{{"magic": "PIPES_DATA", "entries": [{{"pipe_id": 1, "bytes": {n}, "extra": "{}"}}]}}"#,
            super::super::text::base64_lines(&vec![0xa5; n]).replace('\n', "\\n")
        );
        encode_json_text(text.as_bytes()).unwrap()
    }

    /// A payload larger than the writer's pieces streams out in pieces that
    /// add up to the text rendered at once; a failing sink is reported.
    #[test]
    fn streaming_decode_matches_and_reports_sink_errors() {
        let img = pipe_image(300_000);
        for pretty in [false, true] {
            let opts = RenderOptions {
                pretty,
                no_payload: false,
            };
            let whole = decode_image_to_json(&img, opts).unwrap();
            let mut sink = Failing {
                left: usize::MAX,
                got: Vec::new(),
            };
            decode_image_to_writer(&img, opts, &mut sink).unwrap();
            assert_eq!(sink.got, whole);
            let mut sink = Failing {
                left: 1000,
                got: Vec::new(),
            };
            let e = decode_image_to_writer(&img, opts, &mut sink).unwrap_err();
            assert!(matches!(e, DecodeWriteError::Io(_)), "{e:?}");
            assert_eq!(sink.got, whole[..1000]);
        }
    }

    /// The streaming encoder against the tree one: same bytes, same errors.
    #[test]
    fn streaming_encode_matches_the_tree() {
        let cases: &[&str] = &[
            r#"{"magic": "PSTREE", "entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}]}"#,
            r#"{"entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1}], "magic": "PSTREE"}"#,
            r#"{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": 4096, "nr_pages": 1}]}"#,
            r#"{"magic": "PIPES_DATA", "entries": [{"pipe_id": 1, "bytes": 2, "extra": "YWI=\n"}]}"#,
            r#"{"magic": "PIPES_DATA", "entries": [{"pipe_id": 1, "bytes": 3, "extra": "YWI=\n"}]}"#,
            r#"{"magic": "GHOST_FILE", "entries": []}"#,
            r#"{"magic": "PSTREE", "entries": [{"pid": "x"}]}"#,
            r#"{"magic": "PSTREE", "entries": 5}"#,
            r#"{"magic": "PSTREE", "entries": {}}"#,
            r#"{"magic": 5, "entries": []}"#,
            r#"{"magic": "NOPE", "entries": []}"#,
            r#"{"magic": "PSTREE"}"#,
            r#"{"entries": []}"#,
            r#"{"magic": "PSTREE", "entries": [], "more": 1}"#,
            r#"[]"#,
            r#""PSTREE""#,
            r#"{"magic": "PSTREE", "entries": [], "magic": "PSTREE"}"#,
            r#"{"magic": "PSTREE", "entries": [], "entries": []}"#,
            r#"{"magic": "PSTREE", "entries": [{"pid": 1, "pid": 1}]}"#,
            r#"{"magic": "PSTREE", "entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [{}]}]}"#,
            r#"{"entries": [{"id": 1, "chunks": true}, {"len": 1, "off": 0, "extra": "YQ=="}], "magic": "GHOST_FILE"}"#,
            r#"{"magic": "GHOST_FILE", "entries": [{"id": 1, "chunks": true}, {"len": 1, "off": 0, "extra": "YQ=="}]}"#,
            r#"{"magic": "PSTREE", "entries": [{"pid": "x"}], "zzz": 1}"#,
            r#"{"magic": "PSTREE", "entries": [{"pid": "x"}], "aaa": 1}"#,
            r#"{"magic": "PSTREE", "entries": [{"pid": "x"}, {"a": 1, "a": 2}]}"#,
            r#"{"magic": "PSTREE", "entries": [{"pid": "x"}] x"#,
            r#"{"entries": [{"pid": "x"}], "magic": "NOPE"}"#,
            r#"{"magic": "NOPE", "entries": [{"pid": "x"}]}"#,
            "[1",
            "[{\"a\": 1, \"a\": 1}]",
        ];
        for text in cases {
            let tree = crate::json::strict::parse(text.as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|j| image_from_json(&j).map_err(|e| e.to_string()))
                .and_then(|img| img.encode().map_err(|e| e.to_string()));
            let stream = encode_json_text(text.as_bytes()).map_err(|e| match e {
                EncodeError::Syntax(e) => e.to_string(),
                EncodeError::Schema(e) => e.to_string(),
                EncodeError::Image(e) => e.to_string(),
            });
            assert_eq!(stream, tree, "{text}");
        }
    }

    #[test]
    fn human_sizes_like_crit() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(80), "80B");
        assert_eq!(human_size(1024), "1KB");
        assert_eq!(human_size(1536), "1.5KB");
        assert_eq!(human_size(1280), "1.2KB"); // 1.25 rounds half to even
        assert_eq!(human_size(5 << 20), "5MB");
    }
}
