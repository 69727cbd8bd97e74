//! `proc/PID/maps`: one line per VMA as the kernel's show_map_vma writes it:
//! `start-end perms offset major:minor inode`, then, for a named mapping,
//! spaces up to column 73 and the name.

use std::fmt::Write;

/// PROT_* and MAP_* bits used here.
const PROT_READ: u32 = 1;
const PROT_WRITE: u32 = 2;
const PROT_EXEC: u32 = 4;
const MAP_SHARED: u32 = 1;

/// The kernel pads the fixed part of a line to 25 + 6 × sizeof(void *) - 1
/// columns (64-bit) before the name.
const NAME_COLUMN: usize = 25 + 6 * 8 - 1;

/// One line of maps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    pub start: u64,
    pub end: u64,
    pub prot: u32,
    pub flags: u32,
    /// File offset in bytes (0 for an anonymous mapping).
    pub offset: u64,
    pub dev: Option<(u32, u32)>,
    pub inode: Option<u64>,
    /// The path, or `[heap]`, `[stack]`, … ; None for anonymous memory.
    pub name: Option<String>,
    /// A file mapping whose file is not on this host with its recorded size.
    pub not_on_host: bool,
}

/// The whole text of maps.
pub fn render(lines: &[Line]) -> String {
    let mut s = String::new();
    for l in lines {
        push_line(&mut s, l);
    }
    s
}

/// Appends one line (with its newline) to `s`.
pub fn push_line(s: &mut String, l: &Line) {
    let at = s.len();
    let bit = |b: u32, c: char| if l.prot & b != 0 { c } else { '-' };
    let shared = if l.flags & MAP_SHARED != 0 { 's' } else { 'p' };
    let (major, minor) = l.dev.unwrap_or((0, 0));
    let _ = write!(
        s,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        l.start,
        l.end,
        bit(PROT_READ, 'r'),
        bit(PROT_WRITE, 'w'),
        bit(PROT_EXEC, 'x'),
        shared,
        l.offset,
        major,
        minor,
        l.inode.unwrap_or(0)
    );
    if let Some(name) = &l.name {
        let used = s.len() - at;
        if used < NAME_COLUMN {
            s.extend(std::iter::repeat_n(' ', NAME_COLUMN - used));
        }
        s.push(' ');
        // The kernel escapes a newline in a path (seq_path's "\n").
        s.push_str(&name.replace('\n', "\\012"));
        if l.not_on_host {
            s.push_str(" (not on this host)");
        }
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_the_kernel_pads_them() {
        let heap = Line {
            start: 0x55c8be1ed000,
            end: 0x55c8be20e000,
            prot: 3,
            flags: 2,
            name: Some("[heap]".into()),
            ..Default::default()
        };
        let anon = Line {
            start: 0x7f7958264000,
            end: 0x7f7958286000,
            prot: 3,
            flags: 0x22,
            ..Default::default()
        };
        let lib = Line {
            start: 0x7f2c24634000,
            end: 0x7f2c2465a000,
            prot: 5,
            flags: 2,
            offset: 0x1000,
            dev: Some((0xfe, 0)),
            inode: Some(325843),
            name: Some("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into()),
            not_on_host: false,
        };
        let vsyscall = Line {
            start: 0xffffffffff600000,
            end: 0xffffffffff601000,
            prot: 4,
            flags: 2,
            name: Some("[vsyscall]".into()),
            ..Default::default()
        };
        // Lines as this host's /proc/self/maps printed them.
        assert_eq!(
            render(&[heap, anon, lib, vsyscall]),
            "55c8be1ed000-55c8be20e000 rw-p 00000000 00:00 0                          [heap]\n\
             7f7958264000-7f7958286000 rw-p 00000000 00:00 0 \n\
             7f2c24634000-7f2c2465a000 r-xp 00001000 fe:00 325843                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n\
             ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
        );
    }
}
