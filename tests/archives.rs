//! Container checkpoint archives without mounting: recognition by bytes,
//! hostile archives, rewriting, and the CLI (`check`, `x`, `inspect`) on the
//! real podman archives in tests/data/containers/.

mod mounting;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crit_fs::archive::{self, Compression, Format, OpenOptions, RewriteOutcome};
use mounting::{TempDir, bin, crit_fs_ok};

fn containers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/containers")
}

const REAL: [&str; 4] = [
    "c2.tar.gz",
    "c2-leave-running.tar",
    "c3.tar.zst",
    "c4-tcp.tar.gz",
];

/// The decompressed tar stream of an archive file.
/// `dir/name`, made as a new directory.
fn new_dir(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(name);
    fs::create_dir(&d).unwrap();
    d
}

/// Unpacks `archive` into `dir` with tar, which must succeed.
fn untar(archive: &Path, dir: &Path) {
    let st = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
}

fn tar_bytes(path: &Path) -> Vec<u8> {
    let (_, mut r) = archive::decompressed(fs::File::open(path).unwrap()).unwrap();
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

fn compress(c: Compression, tar: &[u8]) -> Vec<u8> {
    match c {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(tar, 3).unwrap(),
    }
}

/// A small checkpoint tar built here: the corpus `sleep` dump as `checkpoint/`
/// plus podman-like metadata, and `extra` members appended by the caller.
fn build_tar(extra: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let sleep = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus/sleep");
    let mut names: Vec<_> = fs::read_dir(&sleep)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for n in names {
        let p = sleep.join(&n);
        if p.is_file() {
            b.append_path_with_name(&p, Path::new("checkpoint").join(&n))
                .unwrap();
        }
    }
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(
        "config.dump",
        br#"{"name":"built","id":"0123456789abcdef0123","rootfsImageName":"localhost/x:latest","runtime":"runc","createdTime":"2026-01-02T03:04:05.123Z"}"#,
    );
    add(
        "spec.dump",
        br#"{"annotations":{"io.container.manager":"libpod"}}"#,
    );
    add("deleted.files", br#"["/etc/group"]"#);
    extra(&mut b);
    b.into_inner().unwrap()
}

fn write_archive(dir: &Path, name: &str, c: Compression, tar: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, compress(c, tar)).unwrap();
    p
}

fn raw_member(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    kind: tar::EntryType,
    link: &[u8],
    data: &[u8],
) {
    // Written by hand: the tar crate refuses `..` and absolute names itself.
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn compression_is_recognised_by_bytes_not_name() {
    let t = TempDir::new("arc-detect");
    let tar = build_tar(|_| {});
    for (c, name) in [
        (Compression::None, "a.tar.gz"),
        (Compression::Gzip, "b.tar"),
        (Compression::Zstd, "c.tar.gz"),
    ] {
        let p = write_archive(&t.0, name, c, &tar);
        let x = archive::open(&p, OpenOptions::default()).unwrap();
        assert_eq!(x.format(), &Format::Export(c), "{name}");
        assert_eq!(
            fs::read(x.dump_dir().join("pstree.img")).unwrap(),
            fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus/sleep/pstree.img")
            )
            .unwrap()
        );
    }
}

#[test]
fn spool_is_private_and_removed_when_dropped() {
    let t = TempDir::new("arc-spool");
    let p = write_archive(&t.0, "a.tar", Compression::Gzip, &build_tar(|_| {}));
    let x = archive::open(&p, OpenOptions::default()).unwrap();
    let spool = x.spool_dir().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&spool).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(x.dump_dir().join("inventory.img").is_file());
    drop(x);
    assert!(!spool.exists());
}

fn open_err(path: &Path) -> String {
    let e = archive::open(path, OpenOptions::default()).unwrap_err();
    e.to_string()
}

#[test]
fn truncated_and_damaged_archives_fail_naming_the_member() {
    let t = TempDir::new("arc-bad");
    let tar = build_tar(|_| {});
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let whole = compress(c, &tar);
        // Cut short in the middle.
        let p = t.0.join(format!("cut-{}", c.name()));
        fs::write(&p, &whole[..whole.len() / 2]).unwrap();
        let msg = open_err(&p);
        // The member being read, or (zstd decodes whole blocks) none yet.
        assert!(
            (msg.contains("member \"") || msg.contains("before its first member"))
                && (msg.contains("cut short") || msg.contains("damaged")),
            "{c:?}: {msg}"
        );
    }
    // Cut exactly after a member (no end-of-archive blocks): named, not taken for whole.
    let first = 512
        + tar[124..135]
            .iter()
            .fold(0usize, |a, d| a * 8 + (d - b'0') as usize)
            .div_ceil(512)
            * 512;
    let p = write_archive(&t.0, "boundary.tar", Compression::None, &tar[..first]);
    let msg = open_err(&p);
    assert!(
        msg.contains("cut short after this member") && msg.contains("member \"checkpoint/"),
        "{msg}"
    );
    // A header's bytes changed: the checksum no longer matches.
    let mut bad = tar.clone();
    let second = 512
        + tar[124..135]
            .iter()
            .fold(0usize, |a, d| a * 8 + (d - b'0') as usize)
            .div_ceil(512)
            * 512;
    bad[second + 3] ^= 0x55;
    let p = write_archive(&t.0, "flipped.tar", Compression::None, &bad);
    let msg = open_err(&p);
    assert!(
        msg.contains("wrong checksum") && msg.contains("member"),
        "{msg}"
    );
    // A flipped byte inside gzip data: the CRC or the deflate stream fails.
    let mut gz = compress(Compression::Gzip, &tar);
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    let p = t.0.join("flipped.tgz");
    fs::write(&p, &gz).unwrap();
    let msg = open_err(&p);
    assert!(
        msg.contains("damaged") || msg.contains("cut short") || msg.contains("checksum"),
        "{msg}"
    );
}

#[test]
fn escaping_members_are_refused_and_nothing_lands_outside() {
    let t = TempDir::new("arc-escape");
    let outside = new_dir(&t.0, "outside");
    let target = format!("{}/pwned", outside.display());
    type AddMembers<'a> = Box<dyn Fn(&mut tar::Builder<Vec<u8>>) + 'a>;
    let cases: Vec<(&str, AddMembers, &str)> = vec![
        (
            "dotdot",
            Box::new(|b| {
                raw_member(
                    b,
                    b"checkpoint/../../../../../../../../tmp/x-crit-fs-pwned",
                    tar::EntryType::Regular,
                    b"",
                    b"x",
                )
            }),
            "\"..\"",
        ),
        (
            "absolute",
            Box::new(|b| raw_member(b, target.as_bytes(), tar::EntryType::Regular, b"", b"x")),
            "absolute path",
        ),
        (
            "symlink",
            Box::new(|b| {
                raw_member(
                    b,
                    b"link",
                    tar::EntryType::Symlink,
                    outside.to_str().unwrap().as_bytes(),
                    b"",
                );
                raw_member(b, b"link/pwned", tar::EntryType::Regular, b"", b"x");
            }),
            "out of the archive",
        ),
        (
            "relative-symlink",
            Box::new(|b| {
                raw_member(
                    b,
                    b"checkpoint/up",
                    tar::EntryType::Symlink,
                    b"../../outside",
                    b"",
                );
            }),
            "out of the archive",
        ),
        (
            "hardlink",
            Box::new(|b| raw_member(b, b"hl", tar::EntryType::Link, b"/etc/passwd", b"")),
            "hard link",
        ),
        (
            "device",
            Box::new(|b| raw_member(b, b"dev", tar::EntryType::Char, b"", b"")),
            "device",
        ),
    ];
    for (name, extra, needle) in cases {
        let p = write_archive(
            &t.0,
            &format!("{name}.tar"),
            Compression::None,
            &build_tar(|b| extra(b)),
        );
        let msg = open_err(&p);
        assert!(
            msg.starts_with("member \"") && msg.contains(needle),
            "{name}: {msg}"
        );
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "{name}");
        assert!(!Path::new("/tmp/x-crit-fs-pwned").exists());
    }
    // A symbolic link whose parent is a link: refused before writing through it.
    let p = write_archive(
        &t.0,
        "through.tar",
        Compression::None,
        &build_tar(|b| {
            raw_member(b, b"d", tar::EntryType::Symlink, b"checkpoint", b"");
            raw_member(b, b"d/new", tar::EntryType::Regular, b"", b"x");
        }),
    );
    let msg = open_err(&p);
    assert!(msg.contains("not a directory"), "{msg}");
}

#[test]
fn a_tar_that_is_not_a_checkpoint_is_refused() {
    let t = TempDir::new("arc-notcp");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_cksum();
    b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
    let p = write_archive(
        &t.0,
        "plain.tar",
        Compression::Gzip,
        &b.into_inner().unwrap(),
    );
    let msg = open_err(&p);
    assert!(
        msg.contains("not a container checkpoint") && msg.contains("hello.txt"),
        "{msg}"
    );
    let p = t.0.join("random.bin");
    fs::write(&p, vec![7u8; 3000]).unwrap();
    assert!(open_err(&p).contains("wrong checksum"));
}

/// The members of a tar stream: (raw bytes of header blocks + data + padding) by name.
fn members(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut r = crit_fs::archive::tar::TarReader::new(tar);
    let mut out = Vec::new();
    while let Some(m) = r.next_member().unwrap() {
        let mut data = m.raw_header.clone();
        r.copy_data(&mut data).unwrap();
        out.push((m.name(), data));
    }
    out
}

#[test]
fn rewrite_changes_only_edited_members_and_keeps_compression() {
    let t = TempDir::new("arc-rewrite");
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let tar = build_tar(|_| {});
        let p = write_archive(&t.0, &format!("a-{}.tar", c.name()), c, &tar);
        let x = archive::open(&p, OpenOptions::default()).unwrap();
        // Nothing touched: not rewritten.
        let before = fs::read(&p).unwrap();
        assert_eq!(x.rewrite().unwrap(), RewriteOutcome::Unchanged);
        // Touched with the same bytes: still not rewritten.
        let cfg = x.tree().join("config.dump");
        let same = fs::read(&cfg).unwrap();
        fs::write(&cfg, &same).unwrap();
        assert_eq!(x.rewrite().unwrap(), RewriteOutcome::Unchanged);
        assert_eq!(fs::read(&p).unwrap(), before);
        // A new image, atomically renamed as the mount does.
        let ps = x.dump_dir().join("pstree.img");
        let mut img = fs::read(&ps).unwrap();
        img.extend_from_slice(&[0; 3]);
        crit_fs::atomic::replace_file(&ps, &img).unwrap();
        let out = x.rewrite().unwrap();
        assert_eq!(
            out,
            RewriteOutcome::Rewritten(vec![PathBuf::from("checkpoint/pstree.img")])
        );
        let head = fs::read(&p).unwrap();
        assert_eq!(Compression::detect(&head), c);
        // The end of the archive as it was: both zero blocks and the padding.
        let new_tar = tar_bytes(&p);
        let tail = |t: &[u8]| t.len() - t.iter().rposition(|b| *b != 0).unwrap();
        assert_eq!(tail(&new_tar), tail(&tar));
        let old = members(&tar);
        let new = members(&new_tar);
        assert_eq!(old.len(), new.len());
        for ((on, ob), (nn, nb)) in old.iter().zip(&new) {
            assert_eq!(on, nn);
            if on == "checkpoint/pstree.img" {
                assert_ne!(ob, nb);
            } else {
                assert_eq!(ob, nb, "{on} must be byte-identical");
            }
        }
        // The new archive reads back with the edit.
        let y = archive::open(&p, OpenOptions::default()).unwrap();
        assert_eq!(fs::read(y.dump_dir().join("pstree.img")).unwrap(), img);
    }
}

#[test]
fn interrupted_or_refused_rewrite_leaves_the_archive() {
    let t = TempDir::new("arc-interrupt");
    let p = write_archive(&t.0, "a.tar.gz", Compression::Gzip, &build_tar(|_| {}));
    let before = fs::read(&p).unwrap();
    let x = archive::open(&p, OpenOptions::default()).unwrap();
    fs::write(x.tree().join("config.dump"), b"{}").unwrap();
    // The working copy of a later member is gone mid-way: the rewrite fails
    // after having written part of the new archive.
    let dd = x.tree().join("deleted.files");
    fs::remove_file(&dd).unwrap();
    fs::create_dir(&dd).unwrap();
    fs::write(dd.join("x"), b"x").unwrap();
    let e = x.rewrite().unwrap_err();
    assert!(e.to_string().contains("deleted.files"), "{e}");
    assert_eq!(fs::read(&p).unwrap(), before);
    let left: Vec<_> = fs::read_dir(&t.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    // The archive changed since it was read: refused, left as it is.
    let y = archive::open(&p, OpenOptions::default()).unwrap();
    fs::write(y.tree().join("config.dump"), b"{}").unwrap();
    fs::write(&p, compress(Compression::Gzip, &build_tar(|_| {}))).unwrap();
    let now = fs::read(&p).unwrap();
    assert!(
        y.rewrite()
            .unwrap_err()
            .to_string()
            .contains("changed since")
    );
    assert_eq!(fs::read(&p).unwrap(), now);
}

/// An OCI image layout (`podman save --format oci-archive`) whose one layer
/// is a gzip export.
pub fn oci_archive(dir: &Path, export_tar: &[u8]) -> PathBuf {
    let layer = compress(Compression::Gzip, export_tar);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let ld = "1111111111111111111111111111111111111111111111111111111111111111";
    let cd = "2222222222222222222222222222222222222222222222222222222222222222";
    let md = "3333333333333333333333333333333333333333333333333333333333333333";
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{ld}","size":{}}}],"annotations":{{"io.podman.annotations.checkpoint.name":"c2"}}}}"#,
        config.len(),
        layer.len()
    );
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{md}","size":{}}}]}}"#,
        manifest.len()
    );
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: String, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(format!("blobs/sha256/{ld}"), &layer);
    add(format!("blobs/sha256/{cd}"), config);
    add(format!("blobs/sha256/{md}"), manifest.as_bytes());
    add("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json".into(), index.as_bytes());
    let p = dir.join("checkpoint-image.tar");
    fs::write(&p, b.into_inner().unwrap()).unwrap();
    p
}

#[test]
fn oci_image_archive_holding_a_checkpoint_is_read() {
    let t = TempDir::new("arc-oci");
    let export = tar_bytes(&containers().join("c2.tar.gz"));
    let p = oci_archive(&t.0, &export);
    let x = archive::open(&p, OpenOptions::default()).unwrap();
    assert_eq!(x.format(), &Format::Oci(Compression::Gzip));
    assert!(x.tree().join("config.dump").is_file());
    assert!(!x.tree().join("oci-layout").exists());
    crit_fs_ok("check", &p);
    // An OCI layout without a checkpoint layer.
    let p2 = oci_archive(
        &t.0,
        &build_tar(|_| {})[..0]
            .iter()
            .chain([0u8; 1024].iter())
            .copied()
            .collect::<Vec<_>>(),
    );
    let msg = open_err(&p2);
    assert!(
        msg.contains("OCI image archive") && msg.contains("not a checkpoint"),
        "{msg}"
    );
}

fn run(args: &[&str], target: &Path) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(&args[..1])
        .arg(target)
        .args(&args[1..])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_commands_take_real_archives_as_they_take_directories() {
    let t = TempDir::new("arc-cli");
    for a in REAL {
        let p = containers().join(a);
        // The same output as on the unpacked checkpoint/ directory.
        let dir = new_dir(&t.0, &a.replace('.', "_"));
        untar(&p, &dir);
        for args in [
            &["check"][..],
            &["check", "--json"],
            &["x", "ps"],
            &["x", "fds"],
            &["x", "sk", "--json"],
            &["x", "mems"],
        ] {
            let (ok, out, err) = run(args, &p);
            let (ok2, out2, _) = run(args, &dir.join("checkpoint"));
            assert!(ok && ok2, "{a} {args:?}: {err}");
            assert_eq!(out, out2, "{a} {args:?}");
        }
    }
    // A damaged image inside an archive: named by the archive and its member.
    let d = new_dir(&t.0, "damaged");
    untar(&containers().join("c2.tar.gz"), &d);
    let ps = d.join("checkpoint/pstree.img");
    let mut img = fs::read(&ps).unwrap();
    img[8..12].copy_from_slice(&[0xff, 0xff, 0, 0]);
    fs::write(&ps, img).unwrap();
    let da = t.0.join("damaged.tar.gz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&da)
        .arg("-C")
        .arg(&d)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let (ok, _, err) = run(&["x", "ps"], &da);
    assert!(!ok);
    assert!(
        err.starts_with(&format!(
            "crit-fs: {}: checkpoint/pstree.img: ",
            da.display()
        )),
        "{err}"
    );
    // A damaged archive: one line naming the archive and the member.
    let bad = t.0.join("bad.tar.gz");
    let whole = fs::read(containers().join("c2.tar.gz")).unwrap();
    fs::write(&bad, &whole[..whole.len() - 3000]).unwrap();
    let (ok, _, err) = run(&["check"], &bad);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.tar.gz") && err.contains("member \""),
        "{err}"
    );
}

#[test]
fn real_oci_image_archive_checks_and_inspects() {
    let p = containers().join("c5-oci.tar");
    let (ok, out, err) = run(&["check"], &p);
    assert!(ok && out.contains("clean"), "{err}");
    let (ok, json, err) = run(&["inspect", "--json", "--stats"], &p);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["container"]["name"], "ocit");
    assert_eq!(v["processes"][0]["cmdline"], "sleep 100000");
    assert!(v["statistics"]["pages_written"].as_u64().unwrap() > 0);
    let x = archive::open(&p, OpenOptions::default()).unwrap();
    assert_eq!(x.format(), &Format::Oci(Compression::Gzip));
}

/// The first `"comm"` of a core image's JSON replaced (the task's comm).
fn with_comm(img: &[u8], comm: &str) -> Vec<u8> {
    let json = crit_fs::codec::decode_to_json(img, Default::default()).unwrap();
    let text = String::from_utf8(json).unwrap();
    let at = text.find("\"comm\":").unwrap();
    let start = at + text[at..].find(": \"").unwrap() + 3;
    let end = start + text[start..].find('"').unwrap();
    let edited = format!("{}{comm}{}", &text[..start], &text[end..]);
    crit_fs::codec::encode_from_json(edited.as_bytes()).unwrap()
}

#[test]
fn oci_rewrite_gives_a_new_layer_and_digests_up_to_the_index() {
    let t = TempDir::new("arc-oci-rw");
    let p = t.0.join("c5-oci.tar");
    fs::copy(containers().join("c5-oci.tar"), &p).unwrap();
    let before = mounting::archive_members(&p);
    let old_blobs = mounting::verify_oci_digests(&p);
    let bytes = fs::read(&p).unwrap();
    let x = archive::open(&p, OpenOptions::default()).unwrap();
    x.check_rewritable().unwrap();
    // Nothing touched, or touched with the same bytes: not rewritten.
    assert_eq!(x.rewrite().unwrap(), RewriteOutcome::Unchanged);
    let core = x.dump_dir().join("core-1.img");
    let img = fs::read(&core).unwrap();
    crit_fs::atomic::replace_file(&core, &img).unwrap();
    assert_eq!(x.rewrite().unwrap(), RewriteOutcome::Unchanged);
    assert_eq!(fs::read(&p).unwrap(), bytes);
    // An edit, written as the mount writes a view (encoded, replaced atomically).
    let edited = with_comm(&img, "edited");
    assert_ne!(edited, img);
    crit_fs::atomic::replace_file(&core, &edited).unwrap();
    assert_eq!(
        x.rewrite().unwrap(),
        RewriteOutcome::Rewritten(vec![PathBuf::from("checkpoint/core-1.img")])
    );
    // Every digest verifies; the old layer, config and manifest are gone
    // (nothing names them), new ones in their places.
    let new_blobs = mounting::verify_oci_digests(&p);
    assert_eq!(new_blobs.len(), 3);
    // The outer tar ends as it did (two zero blocks, then the record padding).
    let zeros_at_end = |t: &[u8]| t.len() - t.iter().rposition(|b| *b != 0).unwrap();
    assert_eq!(zeros_at_end(&fs::read(&p).unwrap()), zeros_at_end(&bytes));
    for b in &new_blobs {
        assert!(!old_blobs.contains(b), "{b} should be new");
    }
    let after = mounting::archive_members(&p);
    assert_eq!(before.len(), after.len());
    let names: Vec<_> = after.iter().map(|m| m.0.clone()).collect();
    for (n, h, d) in &before {
        if old_blobs.contains(n) {
            assert!(!names.contains(n), "{n} left in");
        } else if n == "index.json" {
            let new = after.iter().find(|m| &m.0 == n).unwrap();
            assert_ne!(&new.2, d);
        } else {
            let new = after.iter().find(|m| &m.0 == n).unwrap();
            assert_eq!((&new.1, &new.2), (h, d), "{n} must be byte-identical");
        }
    }
    // The layer: same compression (its media type says gzip), every member but
    // the edited one byte-identical.
    let layer = |ms: &[(String, Vec<u8>, Vec<u8>)], blobs: &[String]| {
        let l = ms.iter().find(|m| m.0 == blobs[2]).unwrap().2.clone();
        assert_eq!(Compression::detect(&l), Compression::Gzip);
        let lp = t.0.join("layer");
        fs::write(&lp, &l).unwrap();
        mounting::archive_members(&lp)
    };
    let (ol, nl) = (layer(&before, &old_blobs), layer(&after, &new_blobs));
    assert_eq!(ol.len(), nl.len());
    for (o, n) in ol.iter().zip(&nl) {
        assert_eq!(o.0, n.0);
        if o.0.ends_with("checkpoint/core-1.img") {
            assert_eq!(n.2, edited);
        } else {
            assert_eq!((&o.1, &o.2), (&n.1, &n.2), "{} must be byte-identical", o.0);
        }
    }
    // The new archive reads back with the edit.
    let y = archive::open(&p, OpenOptions::default()).unwrap();
    assert_eq!(fs::read(y.dump_dir().join("core-1.img")).unwrap(), edited);
    let (ok, out, err) = run(&["x", "ps"], &p);
    assert!(ok && out.contains("edited"), "{err}{out}");
}

#[test]
fn oci_rewrite_keeps_old_blobs_another_descriptor_names() {
    // c5-oci.tar with its manifest listed twice in index.json (two tags).
    let t = TempDir::new("arc-oci-shared");
    let src = mounting::archive_members(&containers().join("c5-oci.tar"));
    let mut b = tar::Builder::new(Vec::new());
    for (n, raw, d) in &src {
        let d = if n == "index.json" {
            let mut v: serde_json::Value = serde_json::from_slice(d).unwrap();
            let first = v["manifests"][0].clone();
            let mut second = first.clone();
            second["annotations"]["org.opencontainers.image.ref.name"] = "localhost/other:1".into();
            v["manifests"] = serde_json::json!([first, second]);
            serde_json::to_vec(&v).unwrap()
        } else {
            d.clone()
        };
        let mut h = tar::Header::from_byte_slice(&raw[raw.len() - 512..]).clone();
        h.set_size(d.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, n, &d[..]).unwrap();
    }
    let p = t.0.join("shared.tar");
    fs::write(&p, b.into_inner().unwrap()).unwrap();
    let old = mounting::verify_oci_digests(&p);
    let x = archive::open(&p, OpenOptions::default()).unwrap();
    let core = x.dump_dir().join("core-1.img");
    let edited = with_comm(&fs::read(&core).unwrap(), "edited");
    crit_fs::atomic::replace_file(&core, &edited).unwrap();
    assert!(matches!(x.rewrite().unwrap(), RewriteOutcome::Rewritten(_)));
    // The first tag names the new manifest, the second the old one, whose
    // blobs are all kept; every digest verifies.
    let now = mounting::verify_oci_digests(&p);
    assert_eq!(now[3..], old[3..]);
    assert!(now[..3].iter().all(|b| !old.contains(b)));
    let names: Vec<_> = mounting::archive_members(&p)
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(names.len(), src.len() + 3);
    assert!(old.iter().all(|b| names.contains(b)));
    let y = archive::open(&p, OpenOptions::default()).unwrap();
    assert_eq!(fs::read(y.dump_dir().join("core-1.img")).unwrap(), edited);
}

#[test]
fn oci_index_naming_itself_is_refused_not_walked_forever() {
    let t = TempDir::new("arc-oci-loop");
    let me = r#"{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aaaa","size":1}"#;
    let nested = format!(
        r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
        vec![me; 100].join(",")
    );
    let index = format!(r#"{{"schemaVersion":2,"manifests":[{me}]}}"#);
    let mut b = tar::Builder::new(Vec::new());
    for (n, d) in [
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", index.into_bytes()),
        ("blobs/sha256/aaaa", nested.into_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, n, &d[..]).unwrap();
    }
    let p = t.0.join("loop.tar");
    fs::write(&p, b.into_inner().unwrap()).unwrap();
    let msg = open_err(&p);
    assert!(msg.contains("more than 4096 manifests"), "{msg}");
}

#[test]
fn oci_layer_of_unknown_media_type_is_not_rewritable() {
    let t = TempDir::new("arc-oci-mt");
    let export = tar_bytes(&containers().join("c2.tar.gz"));
    let p = oci_archive(&t.0, &export);
    // The layer's media type says zstd, its bytes are gzip.
    let tar = tar_bytes(&p);
    let mut b = tar::Builder::new(Vec::new());
    for (n, _, d) in members_with_data(&tar) {
        let d = if n.starts_with("blobs/") && d.starts_with(b"{\"schemaVersion\"") {
            String::from_utf8(d)
                .unwrap()
                .replace("tar+gzip", "tar+zstd")
                .into_bytes()
        } else {
            d
        };
        let mut h = tar::Header::new_ustar();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, &n, &d[..]).unwrap();
    }
    fs::write(&p, b.into_inner().unwrap()).unwrap();
    let x = archive::open(&p, OpenOptions::default()).unwrap();
    let e = x.check_rewritable().unwrap_err().to_string();
    assert!(e.contains("tar+zstd") && e.contains("gzip"), "{e}");
}

fn members_with_data(tar: &[u8]) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut r = crit_fs::archive::tar::TarReader::new(tar);
    let mut out = Vec::new();
    while let Some(m) = r.next_member().unwrap() {
        let mut data = Vec::new();
        r.copy_data(&mut data).unwrap();
        out.push((m.name(), m.raw_header.clone(), data));
    }
    out
}

#[test]
fn inspect_shows_container_processes_files_sockets_mounts() {
    for a in REAL {
        let p = containers().join(a);
        let (ok, text, err) = run(&["inspect", "--stats"], &p);
        assert!(ok, "{a}: {err}");
        let (ok, json, err) = run(&["inspect", "--json", "--stats"], &p);
        assert!(ok, "{a}: {err}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let c = &v["container"];
        assert_eq!(c["engine"], "Podman", "{a}");
        assert_eq!(c["runtime"], "runc", "{a}");
        assert_eq!(c["image"], "localhost/bb:latest", "{a}");
        let name = c["name"].as_str().unwrap();
        assert!(text.contains(&format!("Container: {name}")), "{a}");
        let pid1 = &v["processes"][0];
        assert_eq!(pid1["pid"], 1);
        // Command lines read from the dumped memory: the container's command
        // (c2's shell ended with `exec sleep`).
        let cmd = pid1["cmdline"].as_str().unwrap();
        let want = if a.starts_with("c2") {
            "sleep 100000"
        } else {
            "sh -c "
        };
        assert!(cmd.starts_with(want), "{a}: {cmd}");
        assert!(text.contains(&format!("[1] {cmd}")), "{a}");
        assert!(
            pid1["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["mountpoint"] == "/"),
            "{a}"
        );
        assert!(!pid1["files"].as_array().unwrap().is_empty(), "{a}");
        assert!(text.contains("Statistics"), "{a}");
    }
    let (_, json, _) = run(&["inspect", "--json"], &containers().join("c4-tcp.tar.gz"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["container"]["ip"][0], "10.88.0.3");
    assert_eq!(v["container"]["mac"][0], "86:64:0e:76:6e:76");
    assert!(v.get("statistics").is_none());
    let socks = json.matches("\"ESTABLISHED\"").count();
    assert_eq!(socks, 2, "the two ends of the TCP connection");
    let (_, json, _) = run(
        &["inspect", "--json", "--stats"],
        &containers().join("c3.tar.zst"),
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["statistics"]["frozen_time"].as_u64().unwrap() > 0);
    assert!(v["statistics"]["pages_written"].as_u64().unwrap() > 0);
    let (_, json, _) = run(&["inspect", "--json"], &containers().join("c2.tar.gz"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["container"]["deleted_files"][0], "/etc/group");
    assert!(v["container"]["rootfs_diff_size"].as_u64().unwrap() > 0);
}

/// CRIU for podman: `CRIU`, then /opt/criu/bin/criu, then `criu` on PATH (>= 4).
fn criu_dir() -> Option<PathBuf> {
    let cands = [
        std::env::var_os("CRIU").map(PathBuf::from),
        Some(PathBuf::from("/opt/criu/bin/criu")),
        Some(PathBuf::from("criu")),
    ];
    for c in cands.into_iter().flatten() {
        let Ok(out) = Command::new(&c).arg("--version").output() else {
            continue;
        };
        let v = String::from_utf8_lossy(&out.stdout);
        let major: u32 = v
            .split("Version: ")
            .nth(1)
            .and_then(|s| s.split('.').next())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if out.status.success() && major >= 4 {
            let full = if c.is_absolute() {
                c
            } else {
                let w = Command::new("sh")
                    .arg("-c")
                    .arg("command -v criu")
                    .output()
                    .ok()?;
                PathBuf::from(String::from_utf8_lossy(&w.stdout).trim())
            };
            return full.parent().map(Path::to_path_buf);
        }
    }
    None
}

/// A podman container for the restore tests: busybox-static as its image, a
/// `sleep` as pid 1 with RLIMIT_NOFILE 20000, CRIU on podman's PATH.
struct Podman {
    t: TempDir,
    path: String,
    name: String,
    img: String,
    /// Images to remove at the end besides `img`.
    extra: Vec<String>,
}

impl Podman {
    /// The running container, or None after one `skipped:` line naming `what`.
    fn start(tag: &str, what: &str) -> Option<Podman> {
        let Some(criu) = criu_dir() else {
            println!("skipped: no CRIU >= 4 (CRIU, /opt/criu/bin/criu or PATH); {what} not tested");
            return None;
        };
        let podman = Command::new("podman").arg("--version").output();
        if !podman.is_ok_and(|o| o.status.success()) || !Path::new("/bin/busybox").exists() {
            println!("skipped: podman or busybox-static is not installed; {what} not tested");
            return None;
        }
        let path = format!(
            "{}:{}",
            criu.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let t = TempDir::new(tag);
        let name = format!("critfs-{tag}-{}", std::process::id());
        let img = format!("localhost/{name}:latest");
        let p = Podman {
            t,
            path,
            name,
            img,
            extra: Vec::new(),
        };
        // An image from busybox-static alone (no registry here).
        let root = p.t.0.join("rootfs");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for l in ["sh", "sleep", "cat"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(l)).unwrap();
        }
        let tarball = p.t.0.join("rootfs.tar");
        assert!(
            Command::new("tar")
                .arg("-cf")
                .arg(&tarball)
                .arg("-C")
                .arg(&root)
                .arg(".")
                .status()
                .unwrap()
                .success()
        );
        p.ok(&["import", tarball.to_str().unwrap(), &p.img]);
        p.ok(&[
            "run",
            "-d",
            "--name",
            &p.name,
            "--runtime",
            "runc",
            "--network",
            "none",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
            &p.img,
            "sleep",
            "100000",
        ]);
        Some(p)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("podman")
            .args(args)
            .env("PATH", &self.path)
            .output()
            .unwrap()
    }

    /// `podman ARGS`, which must succeed (the container and images are
    /// removed by Drop when it does not).
    fn ok(&self, args: &[&str]) {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Mounts `archive` with `-o rw`, sets comm to "edited" and the soft
    /// RLIMIT_NOFILE to 12345 in core-1.json, and unmounts.
    fn edit(&self, archive: &Path) {
        let mnt = new_dir(&self.t.0, "mnt");
        let m = Command::new(bin())
            .arg("mount")
            .arg(archive)
            .arg(&mnt)
            .args(["-o", "rw"])
            .output()
            .unwrap();
        assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
        let core = mnt.join("checkpoint/core-1.json");
        let text = fs::read_to_string(&core).unwrap();
        let edited = text
            .replacen("\"comm\": \"sleep\"", "\"comm\": \"edited\"", 1)
            .replacen("\"cur\": 20000,", "\"cur\": 12345,", 1);
        fs::write(&core, &edited).unwrap();
        let u = Command::new(bin())
            .arg("umount")
            .arg(&mnt)
            .output()
            .unwrap();
        assert!(u.status.success());
        assert_ne!(edited, text);
    }

    /// The restored container's pid 1 has the edited comm and limit.
    fn assert_edited(&self) {
        let top = self.run(&["exec", &self.name, "cat", "/proc/1/comm", "/proc/1/limits"]);
        let out = String::from_utf8_lossy(&top.stdout);
        assert!(out.starts_with("edited\n"), "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("Max open files") && l.contains("12345")),
            "{out}"
        );
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.run(&["rm", "-f", &self.name]);
        for img in self.extra.iter().chain([&self.img]) {
            self.run(&["rmi", "-f", img]);
        }
    }
}

/// podman restores an archive edited through an `-o rw` mount: the comm and
/// the RLIMIT_NOFILE soft limit of the container's pid 1 are the edited ones.
#[test]
fn podman_restores_an_edited_archive() {
    let Some(p) = Podman::start("export", "podman restore") else {
        return;
    };
    let export = p.t.0.join("cp.tar.zst");
    p.ok(&[
        "container",
        "checkpoint",
        "--export",
        export.to_str().unwrap(),
        &p.name,
    ]);
    p.ok(&["rm", "-f", &p.name]);
    p.edit(&export);
    p.ok(&["container", "restore", "--import", export.to_str().unwrap()]);
    p.assert_edited();
}

/// podman loads and restores an OCI checkpoint image archive (`checkpoint
/// --create-image`, `save --format oci-archive`) edited through an `-o rw`
/// mount: podman checks the new digests, and the container's pid 1 has the
/// edited comm and RLIMIT_NOFILE soft limit.
#[test]
fn podman_restores_an_edited_oci_image_archive() {
    let Some(mut p) = Podman::start("oci", "podman restore of an OCI image") else {
        return;
    };
    let cp_img = format!("localhost/{}-cp:latest", p.name);
    p.extra.push(cp_img.clone());
    let archive = p.t.0.join("cp-oci.tar");
    p.ok(&[
        "container",
        "checkpoint",
        "--create-image",
        &cp_img,
        &p.name,
    ]);
    p.ok(&["rm", "-f", &p.name]);
    p.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        archive.to_str().unwrap(),
        &cp_img,
    ]);
    p.ok(&["rmi", "-f", &cp_img]);
    p.edit(&archive);
    mounting::verify_oci_digests(&archive);
    p.ok(&["load", "-i", archive.to_str().unwrap()]);
    p.ok(&["container", "restore", &cp_img]);
    p.assert_edited();
}

#[test]
fn spools_of_dead_processes_are_removed_kept_ones_stay() {
    let t = TempDir::new("arc-stale");
    let tmp = new_dir(&t.0, "tmp");
    // A pid that is not running: past the kernel's maximum.
    let stale = tmp.join("crit-fs-archive.99999999.0");
    let kept = tmp.join("crit-fs-archive.99999999.1");
    let live = tmp.join(format!("crit-fs-archive.{}.0", std::process::id()));
    for d in [&stale, &kept, &live] {
        fs::create_dir_all(d.join("tree/checkpoint")).unwrap();
    }
    fs::write(kept.join(archive::KEPT), b"").unwrap();
    let out = Command::new(bin())
        .arg("check")
        .arg(containers().join("c2.tar.gz"))
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!stale.exists() && kept.exists() && live.exists());
    // The command's own spool is gone when it ends.
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 2);
}

#[test]
fn unpacked_exports_are_read_from_their_top_or_checkpoint_dir() {
    let t = TempDir::new("arc-top");
    let p = containers().join("c4-tcp.tar.gz");
    untar(&p, &t.0);
    let (ok, from_archive, _) = run(&["inspect", "--json"], &p);
    assert!(ok);
    let (ok, from_top, err) = run(&["inspect", "--json"], &t.0);
    assert!(ok, "{err}");
    assert_eq!(from_archive, from_top);
    let (ok, from_cp, _) = run(&["inspect", "--json"], &t.0.join("checkpoint"));
    assert!(ok);
    assert_eq!(from_archive, from_cp);
    let (ok, out, _) = run(&["x", "ps"], &t.0);
    assert!(ok && out.contains("nc"));
}
