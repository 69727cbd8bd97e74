//! Per-thread notes from core-TID.img: the architecture, NT_PRSTATUS with
//! the registers in the kernel's `user_regs_struct` order, the FP notes
//! (x86_64: NT_PRFPREG as `user_fpregs_struct` and NT_X86_XSTATE as the
//! standard-format xsave area; aarch64: NT_PRFPREG as `user_fpsimd_state`
//! and NT_ARM_TLS), and NT_SIGINFO.

use crate::error::{Error, Result};
use crate::message::{Message, Value};

use super::elf::{self, Le};

/// The architectures a core can be made for (from the core image's
/// thread-info kind, never from the host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn machine(self) -> u16 {
        match self {
            Arch::X86_64 => elf::EM_X86_64,
            Arch::Aarch64 => elf::EM_AARCH64,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// The thread-info fields of core_entry, one per architecture CRIU knows.
const THREAD_INFO_KINDS: [&str; 8] = [
    "thread_info",
    "ti_arm",
    "ti_aarch64",
    "ti_ppc64",
    "ti_s390",
    "ti_mips",
    "ti_loongarch64",
    "ti_riscv64",
];

/// What a thread's notes need from its core image, read up front so that a
/// damaged core is an error before any byte is produced.
pub struct ThreadNotes {
    pub tid: u64,
    pub arch: Arch,
    /// NT_PRSTATUS registers, already in `user_regs_struct` layout.
    regs: Vec<u8>,
    /// The notes after NT_PRSTATUS (FP state, TLS), as (name, type, desc).
    extra: Vec<(&'static str, u32, Vec<u8>)>,
    sigpend: u64,
    sighold: u64,
}

/// The few process facts NT_PRSTATUS repeats for every thread.
pub struct ProcIds {
    pub ppid: u64,
    pub pgrp: u64,
    pub sid: u64,
}

impl ThreadNotes {
    /// Reads the thread's notes from its core entry; `image` names the file
    /// in errors. `shared` is the process's pending signals (tc.signals_s).
    pub fn read(tid: u64, core: &Message, image: &str, shared_pending: u64) -> Result<ThreadNotes> {
        let arch = arch_of(core, image)?;
        let (regs, extra) = match arch {
            Arch::X86_64 => x86_64(core, image)?,
            Arch::Aarch64 => aarch64(core, image)?,
        };
        let tc = core.msg("tc");
        let th = core.msg("thread_core");
        let sighold = th
            .and_then(|t| t.u64("blk_sigset"))
            .or_else(|| tc.and_then(|t| t.u64("blk_sigset")))
            .unwrap_or(0);
        let sigpend = th.map(|t| pending_mask(t.msg("signals_p"))).unwrap_or(0) | shared_pending;
        Ok(ThreadNotes {
            tid,
            arch,
            regs,
            extra,
            sigpend,
            sighold,
        })
    }

    /// Appends NT_PRSTATUS.
    pub fn write_prstatus(&self, out: &mut Le, ids: &ProcIds) {
        let mut d = Le::with_capacity(112 + self.regs.len() + 8);
        // pr_info (si_signo, si_code, si_errno), pr_cursig: no signal made this core.
        d.zeros(12).u16(0).zeros(2);
        d.u64(self.sigpend).u64(self.sighold);
        d.u32(self.tid as u32)
            .u32(ids.ppid as u32)
            .u32(ids.pgrp as u32)
            .u32(ids.sid as u32);
        d.zeros(64); // pr_utime, pr_stime, pr_cutime, pr_cstime
        d.bytes(&self.regs);
        d.u32(1).zeros(4); // pr_fpvalid, padding to 8
        elf::note(out, "CORE", elf::NT_PRSTATUS, &d.0);
    }

    /// Appends the notes that follow NT_PRSTATUS for this thread.
    pub fn write_extra(&self, out: &mut Le) {
        for (name, ty, desc) in &self.extra {
            elf::note(out, name, *ty, desc);
        }
    }

    /// Appends NT_SIGINFO: a zero siginfo_t, as no signal made this core.
    pub fn write_siginfo(&self, out: &mut Le) {
        elf::note(out, "CORE", elf::NT_SIGINFO, &[0u8; 128]);
    }
}

/// The architecture of a core entry, from the thread-info field present.
pub fn arch_of(core: &Message, image: &str) -> Result<Arch> {
    if core.has("thread_info") {
        return Ok(Arch::X86_64);
    }
    if core.has("ti_aarch64") {
        return Ok(Arch::Aarch64);
    }
    let found = THREAD_INFO_KINDS.iter().find(|k| core.has(k));
    Err(Error::other(match found {
        Some(kind) => format!(
            "the thread info is {kind}: core files are made for x86_64 (thread_info) and aarch64 (ti_aarch64) only"
        ),
        None => "entry 0 has no thread info (thread_info, ti_aarch64, ...)".to_string(),
    })
    .in_file(image))
}

/// The bit mask of the signals queued in a signal_queue_entry (bit n-1 for
/// signal n, as sigset_t); si_signo is the first int of each siginfo.
pub fn pending_mask(queue: Option<&Message>) -> u64 {
    let mut mask = 0u64;
    for s in queue.into_iter().flat_map(|q| q.msgs("signals")) {
        if let Some(b) = s.bytes("siginfo")
            && b.len() >= 4
        {
            let signo = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if (1..=64).contains(&signo) {
                mask |= 1 << (signo - 1);
            }
        }
    }
    mask
}

fn field<'a>(m: &'a Message, name: &str, path: &str, image: &str) -> Result<&'a Message> {
    m.msg(name)
        .ok_or_else(|| Error::other(format!("entry 0 has no {path}")).in_file(image))
}

fn num(m: &Message, name: &str, path: &str, image: &str) -> Result<u64> {
    m.u64(name)
        .ok_or_else(|| Error::other(format!("entry 0 has no {path}.{name}")).in_file(image))
}

/// The unsigned elements of a repeated integer field.
fn ints(m: &Message, name: &str) -> Vec<u64> {
    m.get(name)
        .iter()
        .map(|v| match v {
            Value::U64(x) => *x,
            Value::I64(x) => *x as u64,
            _ => 0,
        })
        .collect()
}

/// `user_regs_struct` on x86_64: the order of CRIU's user_x86_regs_entry.
const X86_GPREGS: [&str; 27] = [
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    "orig_ax", "ip", "cs", "flags", "sp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
];

type Extra = Vec<(&'static str, u32, Vec<u8>)>;

fn x86_64(core: &Message, image: &str) -> Result<(Vec<u8>, Extra)> {
    let ti = field(core, "thread_info", "thread_info", image)?;
    let gp = field(ti, "gpregs", "thread_info.gpregs", image)?;
    if gp.enum_name("mode") == Some("COMPAT") {
        return Err(Error::other(
            "thread_info.gpregs.mode is COMPAT: cores of 32-bit x86 tasks are not made",
        )
        .in_file(image));
    }
    let mut regs = Le::with_capacity(27 * 8);
    for name in X86_GPREGS {
        regs.u64(num(gp, name, "thread_info.gpregs", image)?);
    }
    let fp = field(ti, "fpregs", "thread_info.fpregs", image)?;
    let fx = fxsave(fp, image)?;
    let mut extra: Extra = vec![("CORE", elf::NT_PRFPREG, fx.clone())];
    if let Some(xs) = fp.msg("xsave") {
        extra.push(("LINUX", elf::NT_X86_XSTATE, xstate(fx, xs)));
    }
    Ok((regs.0, extra))
}

/// The 512-byte fxsave area (`user_fpregs_struct`).
fn fxsave(fp: &Message, image: &str) -> Result<Vec<u8>> {
    let p = "thread_info.fpregs";
    let mut d = Le::with_capacity(512);
    d.u16(num(fp, "cwd", p, image)? as u16)
        .u16(num(fp, "swd", p, image)? as u16)
        .u16(num(fp, "twd", p, image)? as u16)
        .u16(num(fp, "fop", p, image)? as u16)
        .u64(num(fp, "rip", p, image)?)
        .u64(num(fp, "rdp", p, image)?)
        .u32(num(fp, "mxcsr", p, image)? as u32)
        .u32(num(fp, "mxcsr_mask", p, image)? as u32);
    put_u32s(&mut d, &ints(fp, "st_space"), 32);
    put_u32s(&mut d, &ints(fp, "xmm_space"), 64);
    d.pad_to(512);
    Ok(d.0)
}

fn put_u32s(d: &mut Le, vals: &[u64], n: usize) {
    for i in 0..n {
        d.u32(vals.get(i).copied().unwrap_or(0) as u32);
    }
}

fn put_u64s_at(d: &mut [u8], at: usize, vals: &[u64], max: usize) {
    for (i, v) in vals.iter().take(max).enumerate() {
        d[at + 8 * i..at + 8 * i + 8].copy_from_slice(&v.to_le_bytes());
    }
}

/// Standard-format (non-compacted) xsave offsets of the user components:
/// (xcr0 bit, offset, size).
const AVX: (u32, usize, usize) = (2, 576, 256);
const BNDREGS: (u32, usize, usize) = (3, 960, 64);
const BNDCSR: (u32, usize, usize) = (4, 1024, 64);
const OPMASK: (u32, usize, usize) = (5, 1088, 64);
const ZMM_HI256: (u32, usize, usize) = (6, 1152, 512);
const HI16_ZMM: (u32, usize, usize) = (7, 1664, 1024);
const PKRU: (u32, usize, usize) = (9, 2688, 8);

/// NT_X86_XSTATE: the fxsave area with the enabled-features mask at byte
/// 464 (where the kernel puts XCR0), the xsave header, and each component
/// CRIU saved at its standard offset. The image does not record XCR0, so
/// it is the components present in the image; the note ends after the
/// last one, at one of the sizes debuggers know (832, 1088, 2688, 2696).
fn xstate(fx: Vec<u8>, xs: &Message) -> Vec<u8> {
    let ymmh = ints(xs, "ymmh_space");
    let bndreg = ints(xs, "bndreg_state");
    let bndcsr = ints(xs, "bndcsr_state");
    let opmask = ints(xs, "opmask_reg");
    let zmm_upper = ints(xs, "zmm_upper");
    let hi16 = ints(xs, "hi16_zmm");
    let pkru = ints(xs, "pkru");
    let mut xcr0: u64 = 0b11; // x87, SSE
    let mut size = 576;
    let mut with = |c: (u32, usize, usize), present: bool| {
        if present {
            xcr0 |= 1 << c.0;
            size = size.max(c.1 + c.2);
        }
    };
    with(AVX, !ymmh.is_empty());
    with(BNDREGS, !bndreg.is_empty());
    with(BNDCSR, !bndcsr.is_empty());
    with(OPMASK, !opmask.is_empty());
    with(ZMM_HI256, !zmm_upper.is_empty());
    with(HI16_ZMM, !hi16.is_empty());
    with(PKRU, !pkru.is_empty());
    // The standard format keeps every component's place: AVX-512 implies
    // the MPX slots before it, so the sizes are those of real CPUs.
    let mut d = fx;
    d.resize(size, 0);
    d[464..472].copy_from_slice(&xcr0.to_le_bytes());
    let bv = xs.u64("xstate_bv").unwrap_or(0) & xcr0;
    d[512..520].copy_from_slice(&bv.to_le_bytes());
    for (i, v) in ymmh.iter().take(64).enumerate() {
        let at = AVX.1 + 4 * i;
        d[at..at + 4].copy_from_slice(&(*v as u32).to_le_bytes());
    }
    if size >= BNDCSR.1 + BNDCSR.2 {
        put_u64s_at(&mut d, BNDREGS.1, &bndreg, 8);
        put_u64s_at(&mut d, BNDCSR.1, &bndcsr, 8);
    }
    if size >= HI16_ZMM.1 + HI16_ZMM.2 {
        put_u64s_at(&mut d, OPMASK.1, &opmask, 8);
        put_u64s_at(&mut d, ZMM_HI256.1, &zmm_upper, 64);
        put_u64s_at(&mut d, HI16_ZMM.1, &hi16, 128);
    }
    if size >= PKRU.1 + PKRU.2 {
        for (i, v) in pkru.iter().take(2).enumerate() {
            let at = PKRU.1 + 4 * i;
            d[at..at + 4].copy_from_slice(&(*v as u32).to_le_bytes());
        }
    }
    d
}

fn aarch64(core: &Message, image: &str) -> Result<(Vec<u8>, Extra)> {
    let ti = field(core, "ti_aarch64", "ti_aarch64", image)?;
    let gp = field(ti, "gpregs", "ti_aarch64.gpregs", image)?;
    let x = ints(gp, "regs");
    if x.len() != 31 {
        return Err(Error::other(format!(
            "ti_aarch64.gpregs.regs has {} registers, not 31",
            x.len()
        ))
        .in_file(image));
    }
    // user_pt_regs: x0..x30, sp, pc, pstate.
    let mut regs = Le::with_capacity(34 * 8);
    for v in &x {
        regs.u64(*v);
    }
    let p = "ti_aarch64.gpregs";
    regs.u64(num(gp, "sp", p, image)?)
        .u64(num(gp, "pc", p, image)?)
        .u64(num(gp, "pstate", p, image)?);
    let fp = field(ti, "fpsimd", "ti_aarch64.fpsimd", image)?;
    // user_fpsimd_state: vregs[32] (128-bit, low half first), fpsr, fpcr, 2 reserved.
    let mut f = Le::with_capacity(528);
    let v = ints(fp, "vregs");
    for i in 0..64 {
        f.u64(v.get(i).copied().unwrap_or(0));
    }
    let p = "ti_aarch64.fpsimd";
    f.u32(num(fp, "fpsr", p, image)? as u32)
        .u32(num(fp, "fpcr", p, image)? as u32)
        .zeros(8);
    let tls = num(ti, "tls", "ti_aarch64", image)?;
    let extra: Extra = vec![
        ("CORE", elf::NT_PRFPREG, f.0),
        ("LINUX", elf::NT_ARM_TLS, tls.to_le_bytes().to_vec()),
    ];
    Ok((regs.0, extra))
}
