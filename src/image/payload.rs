//! The raw data that follows some entries' messages, read and written with
//! the exact sizes and padding CRIU uses.

use super::{EntryMessage, PayloadKind, Reader, write_framed};
use crate::image::ImageError;
use crate::message::Message;
use crate::schema::Schema;

/// What followed an entry's message.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    None,
    /// Raw bytes (pipe and FIFO data, socket queues, BPF map data, ghost file
    /// data, legacy SysV shared memory).
    Raw(Vec<u8>),
    /// A TCP connection's queued input and output.
    Tcp {
        inq: Vec<u8>,
        outq: Vec<u8>,
    },
    /// SysV semaphore values.
    Sem(Vec<u16>),
    /// SysV message queue: each message's header and its data.
    Msgs(Vec<(Message, Vec<u8>)>),
}

/// A payload as read from image bytes: slices of them, not copies, so that
/// rendering an image never holds a second copy of a large payload.
#[derive(Clone, Debug, PartialEq)]
pub enum PayloadRef<'a> {
    None,
    Raw(&'a [u8]),
    Tcp { inq: &'a [u8], outq: &'a [u8] },
    Sem(Vec<u16>),
    Msgs(Vec<(Message, &'a [u8])>),
}

impl PayloadRef<'_> {
    /// The payload with its own copy of the bytes.
    pub fn into_owned(self) -> Payload {
        match self {
            PayloadRef::None => Payload::None,
            PayloadRef::Raw(d) => Payload::Raw(d.to_vec()),
            PayloadRef::Tcp { inq, outq } => Payload::Tcp {
                inq: inq.to_vec(),
                outq: outq.to_vec(),
            },
            PayloadRef::Sem(s) => Payload::Sem(s),
            PayloadRef::Msgs(ms) => {
                Payload::Msgs(ms.into_iter().map(|(m, d)| (m, d.to_vec())).collect())
            }
        }
    }
}

impl Payload {
    /// A borrowed view of the payload (queued message headers are cloned).
    pub fn as_ref(&self) -> PayloadRef<'_> {
        match self {
            Payload::None => PayloadRef::None,
            Payload::Raw(d) => PayloadRef::Raw(d),
            Payload::Tcp { inq, outq } => PayloadRef::Tcp { inq, outq },
            Payload::Sem(s) => PayloadRef::Sem(s.clone()),
            Payload::Msgs(ms) => {
                PayloadRef::Msgs(ms.iter().map(|(m, d)| (m.clone(), &d[..])).collect())
            }
        }
    }
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

fn field(msg: &Message, name: &str) -> u64 {
    msg.u64(name).unwrap_or(0)
}

pub(super) fn read<'a>(
    r: &mut Reader<'a>,
    kind: PayloadKind,
    msg: &EntryMessage,
) -> Result<PayloadRef<'a>, ImageError> {
    let num = |name: &str| msg.u64(name).unwrap_or(0);
    Ok(match kind {
        PayloadKind::None => PayloadRef::None,
        PayloadKind::PipeData => PayloadRef::Raw(r.take(num("bytes"), "pipe data")?),
        PayloadKind::SkQueue => PayloadRef::Raw(r.take(num("length"), "socket queue data")?),
        PayloadKind::BpfMapData => {
            let n = num("keys_bytes") + num("values_bytes");
            PayloadRef::Raw(r.take(n, "BPF map data")?)
        }
        PayloadKind::TcpStream => {
            let inq = r.take(num("inq_len"), "TCP input queue")?;
            let outq = r.take(num("outq_len"), "TCP output queue")?;
            PayloadRef::Tcp { inq, outq }
        }
        PayloadKind::IpcSem => {
            let n = num("nsems");
            let data = r.take(n * 2, "semaphore values")?;
            let sems = data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            r.take(round_up(n * 2, 8) - n * 2, "semaphore padding")?;
            PayloadRef::Sem(sems)
        }
        PayloadKind::IpcMsg => {
            let id = Schema::get()
                .message_id("ipc_msg")
                .expect("schema has ipc_msg");
            let mut msgs = Vec::new();
            for _ in 0..num("qnum") {
                if r.at_end() {
                    return Err(r.err(format!(
                        "message queue holds {} messages but the image ends after {}",
                        num("qnum"),
                        msgs.len()
                    )));
                }
                let m = r.message(id)?;
                let size = field(&m, "msize");
                let data = r.take(size, "queued message data")?;
                r.take(round_up(size, 8) - size, "message padding")?;
                msgs.push((m, data));
            }
            PayloadRef::Msgs(msgs)
        }
        PayloadKind::IpcShm => {
            if msg.u64("in_pagemaps") == Some(1) {
                // Current CRIU keeps the segment in pagemap/pages images.
                PayloadRef::None
            } else {
                let size = num("size");
                let data = r.take(size, "shared memory data")?;
                r.take(round_up(size, 4) - size, "shared memory padding")?;
                PayloadRef::Raw(data)
            }
        }
    })
}

/// The size CRIT's `--nopl` reports for a payload.
pub fn shown_size(kind: PayloadKind, msg: &EntryMessage, payload: &PayloadRef) -> u64 {
    let num = |name: &str| msg.u64(name).unwrap_or(0);
    match (kind, payload) {
        (PayloadKind::TcpStream, _) => num("inq_len") + num("outq_len"),
        (PayloadKind::IpcSem, _) => num("nsems") * 2,
        (PayloadKind::IpcMsg, PayloadRef::Msgs(ms)) => ms
            .iter()
            .map(|(m, d)| m.encode().len() as u64 + d.len() as u64)
            .sum(),
        (_, PayloadRef::Raw(d)) => d.len() as u64,
        _ => 0,
    }
}

pub(super) fn write(payload: &Payload, msg: &Message, out: &mut Vec<u8>) -> Result<(), String> {
    let pad = |out: &mut Vec<u8>, n: u64, to: u64| {
        out.resize(out.len() + (round_up(n, to) - n) as usize, 0)
    };
    match payload {
        Payload::None => {}
        Payload::Raw(d) => {
            if msg.type_name() == "ipc_shm_entry" {
                let size = field(msg, "size");
                if (d.len() as u64) < size {
                    return Err(format!(
                        "shared memory data has {} bytes but size says {size}",
                        d.len()
                    ));
                }
                out.extend_from_slice(&d[..size as usize]);
                pad(out, size, 4);
            } else {
                out.extend_from_slice(d);
            }
        }
        Payload::Tcp { inq, outq } => {
            out.extend_from_slice(inq);
            out.extend_from_slice(outq);
        }
        Payload::Sem(s) => {
            let n = field(msg, "nsems");
            if s.len() as u64 != n {
                return Err(format!("{} semaphore values but nsems is {n}", s.len()));
            }
            for v in s {
                out.extend_from_slice(&v.to_le_bytes());
            }
            pad(out, n * 2, 8);
        }
        Payload::Msgs(ms) => {
            for (m, d) in ms {
                write_framed(m, out);
                let size = field(m, "msize");
                if (d.len() as u64) < size {
                    return Err(format!(
                        "queued message has {} bytes but msize says {size}",
                        d.len()
                    ));
                }
                out.extend_from_slice(&d[..size as usize]);
                pad(out, size, 8);
            }
        }
    }
    Ok(())
}
