//! The command line as crit's users see it: stdin/stdout defaults, `-o`,
//! `--version`, the `crit` name, closed pipes, and error exits.

use std::io::{Read, Write};
mod common;

use std::path::{Path, PathBuf};

use common::{corpus, read};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_crit-fs");

/// A fresh empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crit-fs-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(bin: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// `crit-fs decode -i input -o output`.
fn decode_to(input: &Path, output: &Path) -> Output {
    let args = [
        "decode",
        "-i",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ];
    run(Path::new(BIN), &args, b"")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn decode_and_encode_use_stdin_and_stdout_by_default() {
    let img = read("sleep/mm-18604.img");
    let out = run(Path::new(BIN), &["decode"], &img);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, read("sleep/expected/mm-18604.json"));
    let out = run(Path::new(BIN), &["decode", "--pretty"], &img);
    assert_eq!(out.stdout, read("sleep/expected/mm-18604.pretty.json"));

    let out = run(
        Path::new(BIN),
        &["encode"],
        &read("sleep/expected/mm-18604.pretty.json"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, img);
    assert!(out.stderr.is_empty());
}

#[test]
fn show_and_info_take_a_file() {
    let path = corpus("shell-tree/pipes-data.img");
    let out = run(
        Path::new(BIN),
        &["show", "--nopl", path.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.stdout, read("shell-tree/expected/pipes-data.nopl.json"));
    let out = run(Path::new(BIN), &["show", path.to_str().unwrap()], b"");
    assert_eq!(
        out.stdout,
        read("shell-tree/expected/pipes-data.pretty.json")
    );
    let out = run(Path::new(BIN), &["info", path.to_str().unwrap()], b"");
    assert_eq!(out.stdout, read("shell-tree/expected/pipes-data.info.json"));
}

#[test]
fn output_file_has_no_final_newline() {
    let dir = scratch("out");
    let json = dir.join("mm.json");
    let input = corpus("sleep/mm-18604.img");
    let out = decode_to(&input, &json);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let want = read("sleep/expected/mm-18604.json");
    assert_eq!(std::fs::read(&json).unwrap(), want[..want.len() - 1]);

    let img = dir.join("mm.img");
    let out = run(
        Path::new(BIN),
        &[
            "encode",
            "--in",
            json.to_str().unwrap(),
            "--out",
            img.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&input).unwrap());
    // No temporary files left beside the output.
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn failed_encode_neither_creates_nor_clobbers_the_output() {
    let dir = scratch("clobber");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, br#"{"magic": "MM", "entries": [{"nope": 1}]}"#).unwrap();
    let target = dir.join("out.img");
    let args = |t: &Path| {
        vec![
            "encode".to_string(),
            "-i".into(),
            bad.to_str().unwrap().into(),
            "-o".into(),
            t.to_str().unwrap().into(),
        ]
    };
    let a = args(&target);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = run(Path::new(BIN), &a, b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "crit-fs: {}: entries[0].nope: unknown field \"nope\" for mm_entry\n",
            bad.display()
        )
    );
    assert!(!target.exists());

    std::fs::write(&target, b"precious").unwrap();
    let out = run(Path::new(BIN), &a, b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn version() {
    let out = run(Path::new(BIN), &["--version"], b"");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        format!(
            "crit-fs {} (CRIU image format 4.2)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn invoked_as_crit_the_same_commands_work() {
    let dir = scratch("symlink");
    let crit = dir.join("crit");
    std::os::unix::fs::symlink(BIN, &crit).unwrap();
    let out = run(&crit, &["--version"], b"");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "4.2\n");

    let img = read("sleep/core-18604.img");
    let out = run(&crit, &["decode", "--pretty"], &img);
    assert_eq!(out.stdout, read("sleep/expected/core-18604.pretty.json"));
    let out = run(&crit, &["encode"], &read("sleep/expected/core-18604.json"));
    assert_eq!(out.stdout, img);
    let path = corpus("sleep/core-18604.img");
    let out = run(&crit, &["info", path.to_str().unwrap()], b"");
    assert_eq!(out.stdout, read("sleep/expected/core-18604.info.json"));

    let out = run(&crit, &["decode", "-i", "/nonexistent/x.img"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "crit: /nonexistent/x.img: No such file or directory (os error 2)\n"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_closed_pipe_is_a_quiet_success() {
    // A PIPES_DATA image with 4 MiB of data: far more JSON than a pipe buffers.
    let mut img = read("shell-tree/pipes-data.img")[..8].to_vec();
    let size = 4u64 << 20;
    let mut msg = vec![0x08, 0x01, 0x10];
    common::varint(size, &mut msg);
    msg.extend([0x18, 0x01]);
    img.extend((msg.len() as u32).to_le_bytes());
    img.extend(&msg);
    img.resize(img.len() + size as usize, b'x');
    let dir = scratch("pipe");
    let path = dir.join("pipes-data.img");
    std::fs::write(&path, &img).unwrap();

    for args in [
        vec!["decode", "-i", path.to_str().unwrap()],
        vec!["show", path.to_str().unwrap()],
    ] {
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 10];
        stdout.read_exact(&mut first).unwrap();
        assert_eq!(first[0], b'{');
        drop(stdout); // like `| head -c 10`
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn raw_data_is_a_one_line_error_naming_the_file() {
    let path = corpus("sleep/pages-1.img");
    let p = path.to_str().unwrap();
    let magic = u32::from_le_bytes(read("sleep/pages-1.img")[..4].try_into().unwrap());
    for args in [
        vec!["decode", "-i", p],
        vec!["decode", "--pretty", "-i", p],
        vec!["show", p],
        vec!["show", "--nopl", p],
        vec!["info", p],
    ] {
        let out = run(Path::new(BIN), &args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            text(&out.stderr),
            format!(
                "crit-fs: {p}: byte 0: Unknown magic {magic:#x}; maybe you are feeding me \
                 raw data (i.e. pages.img)?\n"
            ),
            "{args:?}"
        );
    }
    let out = run(Path::new(BIN), &["decode"], b"\x01\x02");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "crit-fs: <stdin>: byte 0: file too short for a magic (2 bytes)\n"
    );
}

#[test]
fn missing_files_and_bad_usage() {
    let out = run(Path::new(BIN), &["info", "/nonexistent/x.img"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "crit-fs: /nonexistent/x.img: No such file or directory (os error 2)\n"
    );
    let out = run(Path::new(BIN), &["decode", "--bogus"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--bogus'"));
    let out = run(Path::new(BIN), &["show"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage: crit-fs show <in>"));
    let out = run(Path::new(BIN), &["frobnicate"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = run(Path::new(BIN), &[], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "usage: crit-fs {decode,encode,info,x,show,check,inspect,mem,coredump,mount,umount,man,completions} ...\n\
         crit-fs: error: too few arguments\n"
    );
}

/// `-o` names a device, a FIFO or a symlink: the output goes through it, and the
/// special file itself stays (renaming over `/dev/null` once replaced the device).
#[test]
fn output_through_a_fifo_or_symlink_keeps_the_special_file() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("fifo");
    let fifo = dir.join("out.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::fs::File::open(fifo)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s
        })
    };
    let img = corpus("sleep/pstree.img");
    let out = decode_to(&img, &fifo);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = reader.join().unwrap();
    let want = read("sleep/expected/pstree.json");
    // `-o` output has no final newline, as in crit.
    assert_eq!(got.as_bytes(), &want[..want.len() - 1]);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    let real = dir.join("real.json");
    let link = dir.join("link.json");
    std::fs::write(&real, "old").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = decode_to(&img, &link);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&real).unwrap(), &want[..want.len() - 1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An error quoting a huge key or value is cut in the middle on stderr: one
/// line that keeps the file name at its start and the reason at its end.
#[test]
fn huge_keys_and_values_are_cut_in_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "k".repeat(16 << 20);
    let cases = [
        (
            "key",
            format!(
                r#"{{"magic": "PSTREE", "entries": [{{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "{huge}": 1}}]}}"#
            ),
            "\" for pstree_entry",
        ),
        (
            "value",
            format!(
                r#"{{"magic": "PSTREE", "entries": [{{"pid": "{huge}", "ppid": 0, "pgid": 1, "sid": 1}}]}}"#
            ),
            "kkkk\"",
        ),
        (
            "magic",
            format!(r#"{{"magic": "{huge}", "entries": []}}"#),
            "kkkk\"",
        ),
    ];
    for (what, text, end) in cases {
        let path = dir.path().join(format!("{what}.json"));
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .arg("encode")
            .arg("-i")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{what}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.len() < 4200 && err.lines().count() == 1,
            "{what}: {} bytes on stderr",
            err.len()
        );
        let start = format!("crit-fs: {}: ", path.display());
        assert!(err.starts_with(&start), "{what}: {}", &err[..200]);
        assert!(err.contains(" bytes cut) … "), "{what}: the cut is shown");
        assert!(
            err.trim_end().ends_with(end),
            "{what}: ends {:?}",
            &err[err.len() - 100..]
        );
    }
}

/// A scratch directory holding an fdinfo image of at least `size` bytes
/// (the corpus's entries repeated) and a copy cut one byte short: the
/// directory, the image's bytes and the two paths.
fn big_fdinfo(name: &str, size: usize) -> (PathBuf, Vec<u8>, PathBuf, PathBuf) {
    let img = read("shell-tree/fdinfo-2.img");
    let (_, start) = crit_fs::image::read_magic(&img).unwrap();
    let mut big = img.clone();
    while big.len() < size {
        big.extend_from_slice(&img[start..]);
    }
    let dir = scratch(name);
    let whole = dir.join("fdinfo-big.img");
    let cut = dir.join("fdinfo-cut.img");
    std::fs::write(&whole, &big).unwrap();
    std::fs::write(&cut, &big[..big.len() - 1]).unwrap();
    (dir, big, whole, cut)
}

/// Images of 1 MiB or more are mapped, not read: the same text and errors
/// as through stdin, which is read.
#[test]
fn large_files_decode_as_through_stdin() {
    let (dir, big, whole, cut) = big_fdinfo("large-decode", 5 << 20);
    for (path, bytes) in [(&whole, &big[..]), (&cut, &big[..big.len() - 1])] {
        let p = path.to_str().unwrap();
        for pretty in [&[][..], &["--pretty"][..]] {
            let mut args = vec!["decode"];
            args.extend_from_slice(pretty);
            let piped = run(Path::new(BIN), &args, bytes);
            assert_eq!(piped.status.success(), path == &whole, "{args:?}");
            args.extend_from_slice(&["-i", p]);
            let read = run(Path::new(BIN), &args, b"");
            assert_eq!(read.status.code(), piped.status.code(), "{args:?}");
            assert_eq!(read.stdout, piped.stdout, "{args:?}");
            let named = text(&piped.stderr).replace("<stdin>", p);
            assert_eq!(text(&read.stderr), named, "{args:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `encode -i FILE -o FILE` of a large text (mapped, not read): a payload is
/// decoded as it comes into view, and a text it cannot stream
/// (here `"extra"` before a key, found only after output went to the file)
/// is encoded again from the start. Both give the bytes `encode` gives from
/// stdin, and a wrong payload length is the same error, with no output file.
#[test]
fn large_files_encode_in_pieces_and_start_over_when_needed() {
    let dir = scratch("large");
    let data: Vec<u8> = (0..20u32 << 20).map(|i| (i * 7 + i / 4099) as u8).collect();
    let b64 = crit_fs::json::text::base64_lines(&data).replace('\n', "\\n");
    let n = data.len();
    let docs = [
        (
            "last",
            format!(
                r#"{{"magic": "PIPES_DATA", "entries": [{{"pipe_id": 1, "bytes": {n}, "extra": "{b64}"}}]}}"#
            ),
        ),
        (
            "first",
            format!(
                r#"{{"magic": "PIPES_DATA", "entries": [{{"extra": "{b64}", "pipe_id": 1, "bytes": {n}}}]}}"#
            ),
        ),
        (
            "short",
            format!(
                r#"{{"magic": "PIPES_DATA", "entries": [{{"pipe_id": 1, "bytes": {}, "extra": "{b64}"}}]}}"#,
                n + 1
            ),
        ),
    ];
    let mut images = Vec::new();
    for (name, doc) in &docs {
        let input = dir.join(format!("{name}.json"));
        std::fs::write(&input, doc).unwrap();
        let output = dir.join(format!("{name}.img"));
        let args = [
            "encode",
            "-i",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ];
        let by_file = run(Path::new(BIN), &args, b"");
        let by_pipe = run(Path::new(BIN), &["encode"], doc.as_bytes());
        assert_eq!(by_file.status.code(), by_pipe.status.code(), "{name}");
        if by_pipe.status.success() {
            assert_eq!(std::fs::read(&output).unwrap(), by_pipe.stdout, "{name}");
            images.push(by_pipe.stdout);
        } else {
            let msg = text(&by_file.stderr).replace(input.to_str().unwrap(), "<stdin>");
            assert_eq!(msg, text(&by_pipe.stderr), "{name}");
            assert!(msg.contains("payload has"), "{msg}");
            assert!(!output.exists(), "{name}");
        }
    }
    assert_eq!(images.len(), 2);
    assert_eq!(images[0], images[1]);
    assert!(images[0].ends_with(&data));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unreadable_input_is_named_and_no_output_is_left() {
    let dir = scratch("unreadable-input");
    let out_path = dir.join("out.img");
    let input = dir.to_str().unwrap();
    let out = run(
        Path::new(BIN),
        &["encode", "-i", input, "-o", out_path.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("crit-fs: {input}: Is a directory (os error 21)\n")
    );
    assert!(!out_path.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A huge (sparse) input is mapped, not read into memory, and not read
/// ahead of the decoder either: its bad magic is reported at once, as for
/// a small file, and `info` and `show` say the same.
#[test]
fn a_huge_file_with_a_bad_magic_is_a_clean_error() {
    let dir = scratch("huge");
    let p = dir.join("huge.img");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(8 << 30).unwrap();
    drop(f);
    let path = p.to_str().unwrap();
    for args in [
        &["decode", "-i", path][..],
        &["info", path][..],
        &["show", path][..],
    ] {
        let out = run(Path::new(BIN), args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "crit-fs: {path}: byte 0: Unknown magic 0x0; maybe you are feeding me raw data (i.e. pages.img)?\n"
            ),
            "{args:?}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A large regular file given as standard input (`crit decode < FILE`) is
/// mapped as a named one is: the same text, an image error named
/// `<stdin>`, and the file's offset left at its end, as reading it leaves it.
#[test]
fn a_large_file_as_stdin_decodes_as_when_named() {
    use std::io::{Seek, SeekFrom};
    let (dir, _, whole, cut) = big_fdinfo("large-stdin", 2 << 20);
    for path in [&whole, &cut] {
        let p = path.to_str().unwrap();
        let named = run(Path::new(BIN), &["decode", "-i", p], b"");
        let mut file = std::fs::File::open(path).unwrap();
        let fd_view = file.try_clone().unwrap(); // shares the offset
        let out = Command::new(BIN)
            .arg("decode")
            .stdin(Stdio::from(fd_view))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), named.status.code(), "{p}");
        assert_eq!(out.stdout, named.stdout, "{p}");
        assert_eq!(
            text(&out.stderr),
            text(&named.stderr).replace(p, "<stdin>"),
            "{p}"
        );
        let at = file.stream_position().unwrap();
        assert_eq!(
            at,
            file.seek(SeekFrom::End(0)).unwrap(),
            "{p}: offset at the end"
        );
    }
    assert!(
        text(
            &run(
                Path::new(BIN),
                &["decode", "-i", cut.to_str().unwrap()],
                b""
            )
            .stderr
        )
        .contains("cut.img: entry")
    );
    std::fs::remove_dir_all(dir).unwrap();
}
