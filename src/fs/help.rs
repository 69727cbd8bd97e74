//! `.crit-fs/HELP` at the mount's top: what each kind of file is, for someone
//! who finds a mount and knows nothing. A dot directory, so that `ls` does not
//! show it, and a name no CRIU image has; a real `.crit-fs` in the dump wins.

use super::*;

/// The directory at the top of the mount that holds [`HELP_FILE`].
pub const HELP_DIR: &str = ".crit-fs";
/// The help file in [`HELP_DIR`].
pub const HELP_FILE: &str = "HELP";

impl CritFs {
    /// The text of `.crit-fs/HELP` for this mount.
    pub fn help_text(&self) -> String {
        let mode = if self.cfg.read_only {
            "read-only (-o ro): every change fails with \"Read-only file system\""
        } else {
            "read-write: edited views are saved to the images"
        };
        let json = if self.cfg.plain {
            "compact JSON (--plain), as `crit-fs decode` prints it"
        } else {
            "pretty JSON, as `crit-fs decode --pretty` prints it"
        };
        format!(
            "\
crit-fs: a CRIU checkpoint directory, mounted as files of JSON

Checkpoint directory (DUMP): {dump}
This mount is {mode}.
Views hold {json}.

WHAT THE FILES ARE

Files of the checkpoint (core-1.img, pages-1.img, pstree.img, stats-dump, ...)
    Exactly the files of DUMP, the same bytes; reads and writes go straight
    through. criu restore can restore from this directory or from DUMP.

NAME.json
    A view of the image NAME.img (or NAME, for an image without .img such as
    stats-dump): the image decoded to JSON. Edit it to change the image (see
    SAVING). Files that are not images crit-fs decodes (pages-*.img, archives,
    logs) have no view. If DUMP has a real file NAME.json, it is shown instead.

NAME.json.err
    Appears after a rejected save of NAME.json and says why (line and column,
    or the JSON path of the bad value). Delete it to dismiss it.

ps.txt, fds.txt, mems.txt, rss.txt, sk.txt
    The checkpoint explained: processes, open files, memory mappings,
    resident pages, sockets. What `crit-fs x DUMP ps` (fds, mems, rss, sk)
    prints; recomputed when a file of DUMP changes. `error: ...` if it failed.

check.txt
    What `crit-fs check DUMP` prints: whether the checkpoint is consistent
    (images present and decodable, process tree, ids, memory).

proc/PID/ (when present)
    One directory per process of the checkpoint, gathering what its images
    hold about it.

Other files you create here (editor swap and backup files, temporary files)
    Kept in the daemon's memory only; they never reach DUMP and are gone at
    unmount.

{help_dir}/{help_file}
    This file. A real {help_dir} in DUMP is shown instead.

SAVING

Edit NAME.json with any editor or tool (vim, nano, sed -i, cp, jq ... > tmp
&& mv tmp NAME.json). When the file is closed (or fsynced), its JSON (pretty
or compact) is checked and encoded as `crit-fs encode` does, and the image is
replaced atomically: a temporary file in DUMP, fsync, rename. Saving unchanged
content does not touch the image.

Text that is not a valid image of that kind is refused: close() fails with
\"Invalid argument\" (an editor reports it), the image stays as it was, and
the reason is in NAME.json.err and the daemon's log.

Deleting a view only hides it until it is written again; the image stays.
Files of the checkpoint and reports cannot be deleted or moved through the
mount (\"Operation not permitted\").

ERRORS

Input/output error (reading NAME.json)
    The image cannot be decoded; the reason is in the daemon's log, and
    `crit-fs decode -i DUMP/NAME.img` prints it.
Read-only file system
    The mount was made with -o ro.
Permission denied
    Reports, .err files and this file are read-only; a view is writable by
    who may write its image.
The daemon's log: /tmp/crit-fs.UID.log unless mounted with --log-file
(or -o log_file=PATH); RUST_LOG=debug for more.

UNMOUNTING

    crit-fs umount MOUNTPOINT
    (or fusermount3 -u MOUNTPOINT; as root, umount MOUNTPOINT)

DUMP keeps every saved change. More: `crit-fs --help`, `man crit-fs`,
`man crit-fs-mount`.
",
            dump = self.root.display(),
            help_dir = HELP_DIR,
            help_file = HELP_FILE,
        )
    }

    pub(super) fn help_attr(&self, ino: u64, node: &Node) -> Attr {
        let mut a = match node {
            Node::HelpDir => self.text_attr(ino, 0, self.started, 0o555),
            _ => self.text_attr(ino, self.help_text().len() as u64, self.started, 0o444),
        };
        if *node == Node::HelpDir {
            a.kind = Kind::Dir;
            a.nlink = 2;
        }
        a
    }

    /// The listing of `.crit-fs`.
    pub(super) fn help_dir_entries(&self, ino: u64) -> Vec<DirEntry> {
        let mut st = lock(&self.state);
        let file = self.intern(&mut st, ino, OsStr::new(HELP_FILE), Node::Help);
        [(ino, "."), (ROOT_INO, ".."), (file, HELP_FILE)]
            .into_iter()
            .map(|(ino, name)| DirEntry {
                ino,
                name: name.into(),
                kind: if ino == file { Kind::File } else { Kind::Dir },
            })
            .collect()
    }

    /// What `name` in `.crit-fs` is.
    pub(super) fn resolve_in_help_dir(&self, name: &OsStr) -> FsResult<Node> {
        if name == HELP_FILE {
            Ok(Node::Help)
        } else {
            Err(fs_err!(libc::ENOENT, "no {name:?} in {HELP_DIR}"))
        }
    }

    /// Nothing can be created in, or moved into, `.crit-fs`.
    pub(super) fn refuse_in_help_dir(&self, parent: u64) -> FsResult<()> {
        if self.node(parent)? == Node::HelpDir {
            return Err(fs_err!(libc::EACCES, "{HELP_DIR} is read-only"));
        }
        Ok(())
    }
}
