//! CRIU 4.2 image magics (criu/include/magic.h) and how each image is laid out.

/// First magic of every image but inventory.
pub const IMG_COMMON: u32 = 0x5456_4319;
/// First magic of service files (stats, irmap-cache).
pub const IMG_SERVICE: u32 = 0x5510_5940;

/// Name prefixes of the files CRIU writes raw data into (memory pages, tmpfs
/// archives, network tool dumps): they have no magic and no protobuf entries.
pub const RAW_PREFIXES: &[&str] = &[
    "pages-",
    "tmpfs-",
    "ifaddr-",
    "route-",
    "route6-",
    "rule-",
    "iptables-",
    "ip6tables-",
    "nftables-",
    "netns-ct-",
    "netns-exp-",
];

/// Whether a file name is one of CRIU's raw data files.
pub fn is_raw_name(name: &str) -> bool {
    RAW_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// What follows an entry's protobuf message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    /// Nothing.
    None,
    /// `bytes` raw bytes (pipe_data_entry).
    PipeData,
    /// `length` raw bytes (sk_packet_entry).
    SkQueue,
    /// `inq_len` then `outq_len` raw bytes.
    TcpStream,
    /// `keys_bytes + values_bytes` raw bytes.
    BpfMapData,
    /// `nsems` u16 values, padded to 8 bytes.
    IpcSem,
    /// `qnum` framed ipc_msg messages, each followed by `msize` bytes padded to 8.
    IpcMsg,
    /// `size` bytes padded to 4, unless `in_pagemaps` is set.
    IpcShm,
}

/// How the entries of an image are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Entries of one message type, each maybe followed by a payload.
    Entries(&'static str, PayloadKind),
    /// A `pagemap_head` entry, then `pagemap_entry` entries.
    Pagemap,
    /// A `ghost_file_entry`, then either raw file data to the end, or
    /// `ghost_chunk_entry` entries each followed by `len` bytes.
    Ghost,
    /// Not protobuf entries (kerndat cache, or a magic used only as a header).
    NotEntries,
}

/// One known magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Magic {
    /// CRIT's name: the macro name without `_MAGIC`.
    pub name: &'static str,
    pub value: u32,
    pub layout: Layout,
}

impl Magic {
    /// The first magic written before this one (None for inventory).
    pub fn header(&self) -> Option<u32> {
        match self.name {
            "INVENTORY" => None,
            "STATS" | "IRMAP_CACHE" => Some(IMG_SERVICE),
            _ => Some(IMG_COMMON),
        }
    }

    pub fn by_name(name: &str) -> Option<Magic> {
        MAGICS.iter().find(|m| m.name == name).copied()
    }

    pub fn by_value(value: u32) -> Option<Magic> {
        MAGICS.iter().find(|m| m.value == value).copied()
    }
}

use Layout::*;
use PayloadKind as P;

const fn m(name: &'static str, value: u32, layout: Layout) -> Magic {
    Magic {
        name,
        value,
        layout,
    }
}

const fn e(name: &'static str, value: u32, msg: &'static str) -> Magic {
    Magic {
        name,
        value,
        layout: Entries(msg, P::None),
    }
}

/// Every distinct magic of CRIU 4.2; aliases (SHMEM_PAGEMAP, PSIGNAL,
/// PAGES_OLD, …) share a value and so decode under the first name, as in CRIT.
pub static MAGICS: &[Magic] = &[
    m("IMG_COMMON", IMG_COMMON, NotEntries),
    m("IMG_SERVICE", IMG_SERVICE, NotEntries),
    e("INVENTORY", 0x5831_3116, "inventory_entry"),
    e("PSTREE", 0x5027_3030, "pstree_entry"),
    e("FDINFO", 0x5621_3732, "fdinfo_entry"),
    m("PAGEMAP", 0x5608_4025, Pagemap),
    e("CORE", 0x5505_3847, "core_entry"),
    e("IDS", 0x5443_2030, "task_kobj_ids_entry"),
    e("VMAS", 0x5412_3737, "vma_entry"),
    e("PIPES", 0x5651_3555, "pipe_entry"),
    m(
        "PIPES_DATA",
        0x5645_3709,
        Entries("pipe_data_entry", P::PipeData),
    ),
    e("FIFO", 0x5836_4939, "fifo_entry"),
    m(
        "FIFO_DATA",
        0x5933_3054,
        Entries("pipe_data_entry", P::PipeData),
    ),
    e("SIGACT", 0x5534_4201, "sa_entry"),
    e("UNIXSK", 0x5437_3943, "unix_sk_entry"),
    e("INETSK", 0x5644_3851, "inet_sk_entry"),
    e("PACKETSK", 0x6045_4618, "packet_sock_entry"),
    e("ITIMERS", 0x5746_4056, "itimer_entry"),
    e("POSIX_TIMERS", 0x5260_3957, "posix_timer_entry"),
    m(
        "SK_QUEUES",
        0x5626_4026,
        Entries("sk_packet_entry", P::SkQueue),
    ),
    e("UTSNS", 0x5447_3203, "utsns_entry"),
    e("CREDS", 0x5402_3547, "creds_entry"),
    e("IPC_VAR", 0x5311_5007, "ipc_var_entry"),
    m(
        "IPCNS_SHM",
        0x4628_3044,
        Entries("ipc_shm_entry", P::IpcShm),
    ),
    m(
        "IPCNS_MSG",
        0x5545_3737,
        Entries("ipc_msg_entry", P::IpcMsg),
    ),
    m(
        "IPCNS_SEM",
        0x5957_3019,
        Entries("ipc_sem_entry", P::IpcSem),
    ),
    e("REG_FILES", 0x5036_3636, "reg_file_entry"),
    e("EXT_FILES", 0x5925_5641, "ext_file_entry"),
    e("FS", 0x5140_3912, "fs_entry"),
    e("MM", 0x5749_2820, "mm_entry"),
    e("REMAP_FPATH", 0x5913_3954, "remap_file_path_entry"),
    m("GHOST_FILE", 0x5258_3605, Ghost),
    m(
        "TCP_STREAM",
        0x5146_5506,
        Entries("tcp_stream_entry", P::TcpStream),
    ),
    e("EVENTFD_FILE", 0x4452_3722, "eventfd_file_entry"),
    e("EVENTPOLL_FILE", 0x4502_3858, "eventpoll_file_entry"),
    e("EVENTPOLL_TFD", 0x4443_3746, "eventpoll_tfd_entry"),
    e("SIGNALFD", 0x5732_3820, "signalfd_entry"),
    e("INOTIFY_FILE", 0x4842_4431, "inotify_file_entry"),
    e("INOTIFY_WD", 0x5456_2009, "inotify_wd_entry"),
    e("MNTS", 0x5556_3928, "mnt_entry"),
    e("NETDEV", 0x5737_3951, "net_device_entry"),
    e("NETNS", 0x5593_3752, "netns_entry"),
    e("TTY_FILES", 0x5943_3025, "tty_file_entry"),
    e("TTY_INFO", 0x5945_3036, "tty_info_entry"),
    e("TTY_DATA", 0x5941_3026, "tty_data_entry"),
    e("FILE_LOCKS", 0x5432_3616, "file_lock_entry"),
    e("RLIMIT", 0x5711_3925, "rlimit_entry"),
    e("FANOTIFY_FILE", 0x5509_6122, "fanotify_file_entry"),
    e("FANOTIFY_MARK", 0x5650_6035, "fanotify_mark_entry"),
    e("SIGNAL", 0x5925_5647, "signal_queue_entry"),
    e("NETLINK_SK", 0x5800_5614, "netlink_sk_entry"),
    e("NS_FILES", 0x6139_4011, "ns_file_entry"),
    e("TUNFILE", 0x5714_3751, "tunfile_entry"),
    e("CGROUP", 0x5938_3330, "cgroup_entry"),
    e("TIMERFD", 0x5049_3712, "timerfd_entry"),
    e("CPUINFO", 0x6140_4013, "cpuinfo_entry"),
    e("USERNS", 0x5547_4906, "userns_entry"),
    e("SECCOMP", 0x6441_3049, "seccomp_entry"),
    e("BINFMT_MISC", 0x6734_3323, "binfmt_misc_entry"),
    e("AUTOFS", 0x4935_3943, "autofs_entry"),
    e("FILES", 0x5630_3138, "file_entry"),
    e("MEMFD_INODE", 0x4845_3499, "memfd_inode_entry"),
    e("TIMENS", 0x4311_4433, "timens_entry"),
    e("PIDNS", 0x6115_7326, "pidns_entry"),
    e("BPFMAP_FILE", 0x5750_6142, "bpfmap_file_entry"),
    m(
        "BPFMAP_DATA",
        0x6432_4033,
        Entries("bpfmap_data_entry", P::BpfMapData),
    ),
    e("APPARMOR", 0x5942_3047, "apparmor_entry"),
    e("PIDFD", 0x5443_5556, "pidfd_entry"),
    e("STATS", 0x5709_3306, "stats_entry"),
    e("IRMAP_CACHE", 0x5700_4059, "irmap_cache_entry"),
    m("KDAT", 0x5702_3458, NotEntries),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    #[test]
    fn every_magic_names_a_schema_message() {
        let schema = Schema::get();
        for m in MAGICS {
            if let Entries(msg, _) = m.layout {
                assert!(schema.message_id(msg).is_some(), "{} -> {msg}", m.name);
            }
        }
        for msg in [
            "pagemap_head",
            "pagemap_entry",
            "ghost_file_entry",
            "ghost_chunk_entry",
            "ipc_msg",
        ] {
            assert!(schema.message_id(msg).is_some(), "{msg}");
        }
    }

    #[test]
    fn values_are_unique() {
        for (i, a) in MAGICS.iter().enumerate() {
            for b in &MAGICS[i + 1..] {
                assert_ne!(a.value, b.value, "{} and {}", a.name, b.name);
            }
        }
    }
}
