//! The raw data that follows some entries' messages, read and written with
//! the exact sizes and padding CRIU uses.

use super::{PayloadKind, Reader, write_framed};
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

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

fn field(msg: &Message, name: &str) -> u64 {
    msg.u64(name).unwrap_or(0)
}

pub(super) fn read(
    r: &mut Reader,
    kind: PayloadKind,
    msg: &Message,
) -> Result<Payload, ImageError> {
    Ok(match kind {
        PayloadKind::None => Payload::None,
        PayloadKind::PipeData => Payload::Raw(r.take(field(msg, "bytes"), "pipe data")?.to_vec()),
        PayloadKind::SkQueue => {
            Payload::Raw(r.take(field(msg, "length"), "socket queue data")?.to_vec())
        }
        PayloadKind::BpfMapData => {
            let n = field(msg, "keys_bytes") + field(msg, "values_bytes");
            Payload::Raw(r.take(n, "BPF map data")?.to_vec())
        }
        PayloadKind::TcpStream => {
            let inq = r.take(field(msg, "inq_len"), "TCP input queue")?.to_vec();
            let outq = r.take(field(msg, "outq_len"), "TCP output queue")?.to_vec();
            Payload::Tcp { inq, outq }
        }
        PayloadKind::IpcSem => {
            let n = field(msg, "nsems");
            let data = r.take(n * 2, "semaphore values")?;
            let sems = data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            r.take(round_up(n * 2, 8) - n * 2, "semaphore padding")?;
            Payload::Sem(sems)
        }
        PayloadKind::IpcMsg => {
            let id = Schema::get()
                .message_id("ipc_msg")
                .expect("schema has ipc_msg");
            let mut msgs = Vec::new();
            for _ in 0..field(msg, "qnum") {
                if r.at_end() {
                    return Err(r.err(format!(
                        "message queue holds {} messages but the image ends after {}",
                        field(msg, "qnum"),
                        msgs.len()
                    )));
                }
                let m = r.message(id)?;
                let size = field(&m, "msize");
                let data = r.take(size, "queued message data")?.to_vec();
                r.take(round_up(size, 8) - size, "message padding")?;
                msgs.push((m, data));
            }
            Payload::Msgs(msgs)
        }
        PayloadKind::IpcShm => {
            if msg.bool("in_pagemaps") == Some(true) {
                // Current CRIU keeps the segment in pagemap/pages images.
                Payload::None
            } else {
                let size = field(msg, "size");
                let data = r.take(size, "shared memory data")?.to_vec();
                r.take(round_up(size, 4) - size, "shared memory padding")?;
                Payload::Raw(data)
            }
        }
    })
}

/// The size CRIT's `--nopl` reports for a payload.
pub fn shown_size(kind: PayloadKind, msg: &Message, payload: &Payload) -> u64 {
    match (kind, payload) {
        (PayloadKind::TcpStream, _) => field(msg, "inq_len") + field(msg, "outq_len"),
        (PayloadKind::IpcSem, _) => field(msg, "nsems") * 2,
        (PayloadKind::IpcMsg, Payload::Msgs(ms)) => ms
            .iter()
            .map(|(m, d)| m.encode().len() as u64 + d.len() as u64)
            .sum(),
        (_, Payload::Raw(d)) => d.len() as u64,
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
