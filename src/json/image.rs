//! Whole images as CRIT JSON: `{"magic": NAME, "entries": [...]}`, each entry
//! its message's fields plus `"extra"` for its payload.

use serde_json::Value as Json;

use super::parse::{JsonError, message_from_json};
use super::render::write_fields;
use super::text::base64_decode;
use super::writer::JsonWriter;
use crate::image::{
    Entry, Image, ImageError, Layout, Magic, Payload, PayloadKind, read_magic, shown_size,
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
    write_head(&mut w, magic);
    Image::decode_entries(buf, magic, start, |e| write_entry(&mut w, magic, &e, opts))?;
    write_tail(&mut w);
    Ok(out)
}

fn write_head(w: &mut JsonWriter, magic: Magic) {
    w.begin_object();
    w.key("magic");
    w.string(magic.name);
    w.key("entries");
    w.begin_array();
}

fn write_entry(w: &mut JsonWriter, magic: Magic, e: &Entry, opts: RenderOptions) {
    w.begin_object();
    write_fields(w, &e.msg, opts.pretty, false);
    write_extra(w, magic, e, opts);
    w.end_object();
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
        write_entry(&mut w, img.magic, e, opts);
    }
    write_tail(&mut w);
}

fn write_extra(w: &mut JsonWriter, magic: Magic, e: &Entry, opts: RenderOptions) {
    let kind = match magic.layout {
        Layout::Entries(_, PayloadKind::None) | Layout::Pagemap | Layout::NotEntries => return,
        // CRIT shows no placeholder for ghost data.
        Layout::Ghost if opts.no_payload => return,
        Layout::Ghost => None,
        Layout::Entries(_, kind) => Some(kind),
    };
    if e.payload == Payload::None {
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
        Payload::None => unreachable!(),
        Payload::Raw(d) => w.base64(d),
        Payload::Tcp { inq, outq } => {
            w.begin_object();
            w.key("inq");
            w.base64(inq);
            w.key("outq");
            w.base64(outq);
            w.end_object();
        }
        Payload::Sem(s) => {
            w.begin_array();
            for v in s {
                w.u64(u64::from(*v));
            }
            w.end_array();
        }
        Payload::Msgs(ms) => {
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
    let Json::Object(top) = json else {
        return fail("(top)", "expected an object with \"magic\" and \"entries\"");
    };
    if let Some(k) = top.keys().find(|k| *k != "magic" && *k != "entries") {
        return fail(
            k,
            format!("unknown key {k:?} (an image has only \"magic\" and \"entries\")"),
        );
    }
    let magic = match top.get("magic") {
        Some(Json::String(s)) => match Magic::by_name(s) {
            Some(m) if m.layout != Layout::NotEntries => m,
            _ => return fail("magic", format!("unknown image magic {s:?}")),
        },
        Some(_) => return fail("magic", "expected a string"),
        None => return fail("magic", "missing"),
    };
    let items = match top.get("entries") {
        Some(Json::Array(a)) => a,
        Some(_) => return fail("entries", "expected a list"),
        None => return fail("entries", "missing"),
    };
    let schema = Schema::get();
    let id = |name: &str| {
        schema
            .message_id(name)
            .expect("magic table names schema messages")
    };
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("entries[{i}]");
        let extra = item.as_object().and_then(|o| o.get("extra"));
        let xpath = format!("{path}.extra");
        let entry = match magic.layout {
            Layout::Pagemap => {
                let msg = message_from_json(
                    id(if i == 0 {
                        "pagemap_head"
                    } else {
                        "pagemap_entry"
                    }),
                    item,
                    &path,
                    &[],
                )?;
                Entry {
                    msg,
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
                let chunks = i == 0 && msg.bool("chunks") == Some(true);
                if i > 0
                    && entries
                        .first()
                        .is_some_and(|e: &Entry| e.msg.bool("chunks") != Some(true))
                {
                    return fail(
                        &path,
                        "a ghost file without \"chunks\" has exactly one entry",
                    );
                }
                let payload = if chunks {
                    if extra.is_some() {
                        return fail(
                            &xpath,
                            "a chunked ghost file keeps its data in the chunk entries",
                        );
                    }
                    Payload::None
                } else {
                    let data = raw_extra(extra, &xpath)?;
                    if chunked {
                        expect_len(&xpath, data.len(), msg.u64("len").unwrap_or(0), "len")?;
                    }
                    Payload::Raw(data)
                };
                Entry { msg, payload }
            }
            Layout::Entries(name, kind) => {
                let msg = message_from_json(id(name), item, &path, &["extra"])?;
                let payload = payload_from_json(kind, &msg, extra, &xpath)?;
                Entry { msg, payload }
            }
            Layout::NotEntries => unreachable!(),
        };
        entries.push(entry);
    }
    if magic.layout == Layout::Ghost && entries.is_empty() {
        return fail("entries", "a ghost file image needs its ghost_file_entry");
    }
    Ok(Image { magic, entries })
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
    use super::human_size;

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
