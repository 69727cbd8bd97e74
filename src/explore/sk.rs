//! `x sk`: each task's sockets — family, type, state, addresses or names,
//! peers and queued bytes. The format is documented in docs/explorers.md.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use serde_json::{Map, Value as Json, json};

use super::JsonList;
use super::dump::Dump;
use super::files::{Files, unix_name};
use crate::error::{Error, Result};
use crate::json::text::{dict_name, ip_text};
use crate::message::{Message, Value};
use crate::schema::DictMap;

const SOCKET_TYPES: &[&str] = &["UNIXSK", "INETSK", "PACKETSK", "NETLINKSK"];

/// Tasks and their sockets, one task at a time.
pub fn render(dump: &Dump, json: bool, out: &mut dyn Write) -> Result<()> {
    let mut files = Files::new(dump)?;
    let queued = queued_bytes(dump)?;
    let mut list = JsonList::default();
    for task in dump.live_tasks("x sk")? {
        let pid = task.pid;
        let why = format!("x sk for pid {pid}");
        let fdinfo = dump.fdinfo(pid, &why)?;
        if !json {
            writeln!(out, "{pid}")?;
        }
        let mut socks = Vec::new();
        for e in &fdinfo.entries {
            let ty = e.msg.enum_name("type").unwrap_or("UND");
            if !SOCKET_TYPES.contains(&ty) {
                continue;
            }
            let fd = e.msg.u64("fd").unwrap_or(0);
            let id = e.msg.u64("id").unwrap_or(0);
            let mut obj = Map::new();
            obj.insert("fd".into(), json!(fd));
            obj.insert("id".into(), json!(id));
            let text = match files.lookup(ty, id, &why)? {
                None => {
                    obj.insert("family".into(), Json::Null);
                    format!("{ty}.{id} (not in the dump)")
                }
                Some(sk) => {
                    let mut t = match ty {
                        "UNIXSK" => unix(sk, &mut obj),
                        "INETSK" => inet(dump, sk, &mut obj, &why)?,
                        "PACKETSK" => packet(sk, &mut obj),
                        _ => netlink(sk, &mut obj),
                    };
                    if let Some(&q) = queued.get(&id) {
                        let _ = write!(t, " queued={q}");
                        obj.insert("queued".into(), json!(q));
                    }
                    if ty == "UNIXSK" {
                        let name = unix_name(sk);
                        if !name.is_empty() {
                            let _ = write!(t, " name={name}");
                        }
                    }
                    t
                }
            };
            if json {
                socks.push(Json::Object(obj));
            } else {
                writeln!(out, "\t{fd:>7}: {text}")?;
            }
        }
        if json {
            list.push(out, &json!({"pid": pid, "sockets": socks}))?;
        }
    }
    if json {
        list.finish(out)?;
    }
    Ok(())
}

/// Bytes queued on each socket (by file id), from sk-queues.img.
fn queued_bytes(dump: &Dump) -> Result<HashMap<u64, u64>> {
    let mut q = HashMap::new();
    if let Some(img) = dump.try_image("sk-queues.img")? {
        for e in &img.entries {
            let id = e.msg.u64("id_for").unwrap_or(0);
            let len = e.msg.u64("length").unwrap_or(0);
            let total: &mut u64 = q.entry(id).or_insert(0);
            *total = total.saturating_add(len);
        }
    }
    Ok(q)
}

/// A `(criu).dict = "sk"` field by name, or its number.
fn sk_name(m: &Message, field: &str) -> String {
    let v = m.i64(field).unwrap_or(0);
    dict_name(DictMap::Sk, field, v).map_or_else(|| v.to_string(), str::to_string)
}

fn unix(sk: &Message, obj: &mut Map<String, Json>) -> String {
    let (ty, state) = (sk_name(sk, "type"), sk_name(sk, "state"));
    let ino = sk.u64("ino").unwrap_or(0);
    let peer = sk.u64("peer").unwrap_or(0);
    obj.insert("family".into(), json!("UNIX"));
    obj.insert("type".into(), json!(ty));
    obj.insert("state".into(), json!(state));
    obj.insert("ino".into(), json!(ino));
    obj.insert("peer".into(), json!(peer));
    obj.insert("name".into(), json!(unix_name(sk)));
    format!("UNIX {ty} {state} ino={ino} peer={peer}")
}

fn addr(words: &[Value], port: u64, v6: bool) -> String {
    let words: Vec<u32> = words
        .iter()
        .filter_map(|v| match v {
            Value::U64(w) => u32::try_from(*w).ok(),
            _ => None,
        })
        .collect();
    let ip = ip_text(&words).unwrap_or_else(|| "?".into());
    if v6 {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn inet(dump: &Dump, sk: &Message, obj: &mut Map<String, Json>, why: &str) -> Result<String> {
    let family = sk_name(sk, "family");
    let (ty, proto, state) = (
        sk_name(sk, "type"),
        sk_name(sk, "proto"),
        sk_name(sk, "state"),
    );
    let v6 = family == "INET6";
    let src = addr(sk.get("src_addr"), sk.u64("src_port").unwrap_or(0), v6);
    let dst = addr(sk.get("dst_addr"), sk.u64("dst_port").unwrap_or(0), v6);
    let ino = sk.u64("ino").unwrap_or(0);
    for (k, v) in [
        ("family", &family),
        ("type", &ty),
        ("proto", &proto),
        ("state", &state),
        ("local", &src),
        ("peer", &dst),
    ] {
        obj.insert(k.into(), json!(v));
    }
    obj.insert("ino".into(), json!(ino));
    let mut t = format!("{family} {ty} {proto} {state} {src} -> {dst}");
    let stream = dump
        .try_image(&format!("tcp-stream-{ino:x}.img"))
        .map_err(|mut e| {
            e.file = None;
            Error::other(format!("{e} (needed by {why})"))
                .in_file(format!("tcp-stream-{ino:x}.img"))
        })?;
    if let Some(ts) = stream.as_ref().and_then(|img| img.entries.first()) {
        let inq = ts.msg.u64("inq_len").unwrap_or(0);
        let outq = ts.msg.u64("outq_len").unwrap_or(0);
        let _ = write!(t, " inq={inq} outq={outq}");
        obj.insert("inq".into(), json!(inq));
        obj.insert("outq".into(), json!(outq));
    }
    Ok(t)
}

fn packet(sk: &Message, obj: &mut Map<String, Json>) -> String {
    let ty = sk_name(sk, "type");
    // The ethertype as the kernel reports it: in network byte order.
    let proto = u16::from_be(sk.u64("protocol").unwrap_or(0) as u16);
    let ifindex = sk.u64("ifindex").unwrap_or(0);
    obj.insert("family".into(), json!("PACKET"));
    obj.insert("type".into(), json!(ty));
    obj.insert("proto".into(), json!(proto));
    obj.insert("ifindex".into(), json!(ifindex));
    format!("PACKET {ty} proto={proto:#06x} ifindex={ifindex}")
}

fn netlink(sk: &Message, obj: &mut Map<String, Json>) -> String {
    let proto = sk.u64("protocol").unwrap_or(0);
    let portid = sk.u64("portid").unwrap_or(0);
    let dst_portid = sk.u64("dst_portid").unwrap_or(0);
    let dst_group = sk.u64("dst_group").unwrap_or(0);
    obj.insert("family".into(), json!("NETLINK"));
    obj.insert("proto".into(), json!(proto));
    obj.insert("portid".into(), json!(portid));
    obj.insert("dst_portid".into(), json!(dst_portid));
    obj.insert("dst_group".into(), json!(dst_group));
    format!("NETLINK proto={proto} portid={portid} -> {dst_portid}:{dst_group}")
}
