//! The explorers: CRIT's output byte for byte on the whole corpus, `sk`,
//! `--json`, legacy and pre-4.2 dumps, page size, and errors on bad dumps.

mod common;

use common::*;
use crit_fs::explore::{self, Dump};
use crit_fs::message::Message;
use serde_json::Value as Json;

#[test]
fn corpus_matches_crit() {
    let mut failed = Vec::new();
    let mut compared = 0;
    for case in cases() {
        for what in ["ps", "fds", "mems", "rss"] {
            let want =
                std::fs::read_to_string(case.join(format!("expected/x-{what}.txt"))).unwrap();
            match explore::render(&case, what, false) {
                Ok(got) if got == want => compared += 1,
                Ok(_) => failed.push(format!("{} {what}: output differs", case.display())),
                Err(e) => failed.push(format!("{} {what}: {e}", case.display())),
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(compared, cases().len() * 4);
}

#[test]
fn sk_shows_inet_sockets_with_tcp_queues() {
    let got = explore::render(&corpus("tcp"), "sk", false).unwrap();
    assert_eq!(
        got,
        "18907\n\
         \t      3: INET STREAM TCP LISTEN 127.0.0.1:18001 -> 0.0.0.0:0\n\
         \t      4: INET STREAM TCP ESTABLISHED 127.0.0.1:40656 -> 127.0.0.1:18001 inq=49 outq=3072\n\
         \t      5: INET STREAM TCP ESTABLISHED 127.0.0.1:18001 -> 127.0.0.1:40656 inq=5120 outq=0\n\
         \t      6: INET DGRAM UDP CLOSE 127.0.0.1:18002 -> 0.0.0.0:0\n"
    );
}

#[test]
fn sk_shows_unix_sockets_with_peers_names_and_queues() {
    let got = explore::render(&corpus("unix-files"), "sk", false).unwrap();
    assert_eq!(
        got,
        "19065\n\
         \t      3: UNIX STREAM ESTABLISHED ino=171725 peer=171726 queued=45\n\
         \t      4: UNIX STREAM ESTABLISHED ino=171726 peer=171725 queued=40\n\
         \t      5: UNIX DGRAM ESTABLISHED ino=171727 peer=171728\n\
         \t      6: UNIX DGRAM ESTABLISHED ino=171728 peer=171727 queued=29\n\
         \t      7: UNIX STREAM LISTEN ino=171729 peer=0 name=/srv/crit-corpus/unix-files/listen.sock=00\n\
         \t      8: UNIX STREAM ESTABLISHED ino=171730 peer=171731\n\
         \t      9: UNIX STREAM ESTABLISHED ino=171731 peer=171730 queued=37 name=/srv/crit-corpus/unix-files/listen.sock=00\n"
    );
}

#[test]
fn sk_shows_packet_and_netlink_sockets() {
    let packet = explore::render(&corpus("zdtm-packet_sock"), "sk", false).unwrap();
    assert_eq!(
        packet,
        "71\n\
         \t      4: PACKET RAW proto=0x0000 ifindex=0\n\
         \t      5: PACKET DGRAM proto=0x0800 ifindex=1\n"
    );
    let netlink = explore::render(&corpus("zdtm-sk-netlink"), "sk", false).unwrap();
    assert!(
        netlink.contains("\t      6: NETLINK proto=15 portid=2503155372 -> 71:32\n"),
        "{netlink}"
    );
}

#[test]
fn sk_lists_every_task_even_without_sockets() {
    let got = explore::render(&corpus("sleep"), "sk", false).unwrap();
    assert_eq!(got, "18604\n");
}

fn json(dir: &std::path::Path, what: &str) -> Json {
    let text = explore::render(dir, what, true).unwrap();
    assert!(text.ends_with("}\n]\n") || text == "[]\n", "{what}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn ps_json_is_the_tree() {
    let v = json(&corpus("shell-tree"), "ps");
    let roots = v.as_array().unwrap();
    assert_eq!(roots.len(), 1);
    let bash = &roots[0];
    assert_eq!(bash["pid"], 18691);
    assert_eq!(bash["comm"], "bash");
    assert_eq!(bash["state"], "alive");
    let kids: Vec<u64> = bash["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(kids, [18693, 18694, 18695, 18698, 18699, 18700]);
    assert_eq!(bash["children"][1]["children"][0]["pid"], 18696);
    assert_eq!(bash["children"][1]["children"][0]["comm"], "sleep");
}

#[test]
fn fds_mems_rss_sk_json_carry_the_text_facts() {
    let dir = corpus("unix-files");
    let fds = json(&dir, "fds");
    assert_eq!(fds[0]["pid"], 19065);
    assert_eq!(fds[0]["fds"].as_array().unwrap().len(), 23);
    assert_eq!(fds[0]["fds"][20]["file"], "pipe[171732]");
    assert_eq!(fds[0]["fds"][20]["type"], "PIPE");
    assert_eq!(fds[0]["cwd"], "/srv/crit-corpus/unix-files");

    let mems = json(&dir, "mems");
    assert_eq!(mems[0]["exe"], "/srv/crit-corpus/bin/unix-files");
    let vmas = mems[0]["vmas"].as_array().unwrap();
    assert_eq!(vmas[1]["prot"], "r-x");
    assert_eq!(vmas[1]["what"], "/srv/crit-corpus/bin/unix-files + 0x2000");
    assert_eq!(vmas.last().unwrap()["what"], "[vsyscall] *");

    let rss = json(&dir, "rss");
    assert_eq!(rss[0]["page_size"], 4096);
    let first = &rss[0]["pages"][0];
    assert_eq!(first["nr_pages"], 1);
    assert_eq!(first["vmas"][0]["file"], "/srv/crit-corpus/bin/unix-files");

    let sk = json(&dir, "sk");
    let socks = sk[0]["sockets"].as_array().unwrap();
    assert_eq!(socks.len(), 7);
    assert_eq!(socks[0]["family"], "UNIX");
    assert_eq!(socks[0]["peer"], 171726);
    assert_eq!(socks[0]["queued"], 45);
    assert_eq!(
        socks[4]["name"],
        "/srv/crit-corpus/unix-files/listen.sock=00"
    );

    let tcp = json(&corpus("tcp"), "sk");
    assert_eq!(tcp[0]["sockets"][1]["local"], "127.0.0.1:40656");
    assert_eq!(tcp[0]["sockets"][1]["inq"], 49);
}

#[test]
fn every_explorer_has_json_on_every_case() {
    for case in cases() {
        for what in explore::EXPLORERS {
            let v = json(&case, what);
            assert!(v.is_array(), "{} {what}", case.display());
        }
    }
}

#[test]
fn missing_image_is_one_line_naming_it_and_its_user() {
    let tmp = copy_case("sleep");
    std::fs::remove_file(tmp.path().join("ids-18604.img")).unwrap();
    let e = explore::render(tmp.path(), "fds", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ids-18604.img: missing (needed by x fds for pid 18604)"
    );
    std::fs::remove_file(tmp.path().join("core-18604.img")).unwrap();
    let e = explore::render(tmp.path(), "ps", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "core-18604.img: missing (needed by x ps for pid 18604)"
    );
    std::fs::remove_file(tmp.path().join("pstree.img")).unwrap();
    let e = explore::render(tmp.path(), "mems", false).unwrap_err();
    assert_eq!(e.to_string(), "pstree.img: missing (needed by x mems)");
}

#[test]
fn undecodable_image_names_it_and_its_user() {
    let tmp = copy_case("sleep");
    let p = tmp.path().join("mm-18604.img");
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let e = explore::render(tmp.path(), "mems", false)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("mm-18604.img: entry 0 at byte "), "{e}");
    assert!(e.ends_with("(needed by x mems for pid 18604)"), "{e}");
}

#[test]
fn unknown_explorer_is_an_error() {
    let e = explore::render(&corpus("sleep"), "nope", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown explorer \"nope\" (known: ps, fds, mems, rss, sk)"
    );
}

/// Rewrites a dump as CRIU wrote it before files.img: one image per kind.
fn to_legacy(dir: &std::path::Path) {
    let files = load(dir, "files.img");
    let kinds = [
        ("reg", "REG_FILES", "reg-files.img"),
        ("pipe", "PIPES", "pipes.img"),
        ("usk", "UNIXSK", "unixsk.img"),
        ("isk", "INETSK", "inetsk.img"),
        ("efd", "EVENTFD_FILE", "eventfd.img"),
        ("fifo", "FIFO", "fifo.img"),
    ];
    for (field, magic, name) in kinds {
        let msgs: Vec<Message> = files
            .entries
            .iter()
            .filter_map(|e| e.msg.msg(field).cloned())
            .collect();
        if !msgs.is_empty() {
            save(dir, name, &image_of(magic, msgs));
        }
    }
    std::fs::remove_file(dir.join("files.img")).unwrap();
}

#[test]
fn legacy_per_kind_images_resolve_files() {
    for case in ["unix-files", "shell-tree", "tcp"] {
        let tmp = copy_case(case);
        to_legacy(tmp.path());
        for what in ["fds", "mems", "rss"] {
            let want = std::fs::read_to_string(corpus(case).join(format!("expected/x-{what}.txt")))
                .unwrap();
            let got = explore::render(tmp.path(), what, false).unwrap();
            assert_eq!(got, want, "{case} {what}");
        }
        let sk = explore::render(tmp.path(), "sk", false).unwrap();
        let want = explore::render(&corpus(case), "sk", false).unwrap();
        assert_eq!(sk, want, "{case} sk");
    }
}

#[test]
fn legacy_dump_without_its_kind_image_says_which() {
    let tmp = copy_case("shell-tree");
    to_legacy(tmp.path());
    std::fs::remove_file(tmp.path().join("pipes.img")).unwrap();
    let e = explore::render(tmp.path(), "fds", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "pipes.img: missing (needed by x fds for pid 18693)"
    );
}

#[test]
fn pre_4_2_pagemaps_use_compat_nr_pages() {
    let tmp = copy_case("shell-tree");
    let pids = [
        18691, 18693, 18694, 18695, 18696, 18697, 18698, 18699, 18700,
    ];
    for pid in pids {
        edit(tmp.path(), &format!("pagemap-{pid}.img"), |img| {
            for e in img.entries.iter_mut().skip(1) {
                let n = e.msg.u64("nr_pages").unwrap() as i64;
                set_int(&mut e.msg, "compat_nr_pages", n);
                clear(&mut e.msg, "nr_pages");
                clear(&mut e.msg, "flags");
            }
        });
    }
    let want = std::fs::read_to_string(corpus("shell-tree/expected/x-rss.txt")).unwrap();
    assert_eq!(explore::render(tmp.path(), "rss", false).unwrap(), want);
    assert_eq!(Dump::new(tmp.path()).page_size(), 4096);
}

#[test]
fn page_size_comes_from_what_the_pages_images_hold() {
    assert_eq!(Dump::new(&corpus("sleep")).page_size(), 4096);
    // The same pagemap over a pages image of 16 KiB pages.
    let tmp = copy_case("sleep");
    let pages = tmp.path().join("pages-1.img");
    let len = std::fs::metadata(&pages).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pages)
        .unwrap()
        .set_len(len * 4)
        .unwrap();
    assert_eq!(Dump::new(tmp.path()).page_size(), 16384);
    let rss = json(tmp.path(), "rss");
    assert_eq!(rss[0]["page_size"], 16384);
    // A pages image no page size explains: the architecture's (x86_64: 4 KiB).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pages)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    assert_eq!(Dump::new(tmp.path()).page_size(), 4096);
}

#[test]
fn zombies_are_shown_by_ps_and_skipped_by_the_others() {
    let tmp = copy_case("shell-tree");
    // Make 18696 a zombie: only its core remains.
    edit(tmp.path(), "core-18696.img", |img| {
        set_int(sub(&mut img.entries[0].msg, "tc"), "task_state", 6);
    });
    for name in ["ids", "mm", "pagemap", "fs"] {
        std::fs::remove_file(tmp.path().join(format!("{name}-18696.img"))).unwrap();
    }
    let ps = explore::render(tmp.path(), "ps", false).unwrap();
    assert!(
        ps.contains("  18696  18691  18691           sleep\n"),
        "{ps}"
    );
    for what in ["fds", "mems", "rss", "sk"] {
        let out = explore::render(tmp.path(), what, false).unwrap();
        assert!(!out.contains("18696\n"), "{what}: {out}");
        assert!(out.contains("18697\n"), "{what}: {out}");
    }
    let v = json(tmp.path(), "ps");
    assert_eq!(v[0]["children"][1]["children"][0]["state"], "zombie");
}

#[test]
fn cli_exit_status_and_message() {
    let bin = env!("CARGO_BIN_EXE_crit-fs");
    let ok = std::process::Command::new(bin)
        .args(["x", corpus("sleep").to_str().unwrap(), "ps"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        std::fs::read_to_string(corpus("sleep/expected/x-ps.txt")).unwrap()
    );
    let tmp = copy_case("sleep");
    std::fs::remove_file(tmp.path().join("fs-18604.img")).unwrap();
    let bad = std::process::Command::new(bin)
        .args(["x", tmp.path().to_str().unwrap(), "fds"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "crit-fs: fs-18604.img: missing (needed by x fds for pid 18604)\n"
    );
}

#[test]
fn ps_with_a_broken_tree_says_where() {
    let tmp = copy_case("shell-tree");
    edit(tmp.path(), "pstree.img", |img| {
        set_int(&mut img.entries[2].msg, "ppid", 4242)
    });
    let e = explore::render(tmp.path(), "ps", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "pstree.img: entry 2: parent 4242 of pid 18694 is not in the tree (needed by x ps)"
    );
}

#[test]
fn zombie_whose_core_does_not_decode_counts_as_having_state() {
    // A task's state is read from its core's tc alone; one that looks like a
    // zombie is confirmed by decoding the whole core, as before.
    let tmp = copy_case("shell-tree");
    edit(tmp.path(), "core-18696.img", |img| {
        set_int(sub(&mut img.entries[0].msg, "tc"), "task_state", 6);
    });
    std::fs::remove_file(tmp.path().join("ids-18696.img")).unwrap();
    let core = tmp.path().join("core-18696.img");
    let mut bytes = std::fs::read(&core).unwrap();
    bytes.extend_from_slice(&[1, 0]); // half an entry size after the entry
    std::fs::write(&core, bytes).unwrap();
    let e = explore::render(tmp.path(), "fds", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ids-18696.img: missing (needed by x fds for pid 18696)"
    );
}

#[test]
fn names_that_are_not_utf8_are_shown_lossily() {
    use crit_fs::message::Value;
    let tmp = copy_case("sleep");
    edit(tmp.path(), "files.img", |img| {
        let reg = sub(&mut img.entries[0].msg, "reg");
        let idx = crit_fs::schema::Schema::get()
            .message(reg.msg_type)
            .field_by_name("name")
            .unwrap();
        reg.set(idx, vec![Value::Str(b"/usr/bin/sl\xffeep".to_vec())]);
    });
    // files.img's first entry is the executable.
    let out = explore::render(tmp.path(), "mems", false).unwrap();
    assert!(out.contains(" /usr/bin/sl\u{fffd}eep\n"), "{out}");
    let v = json(tmp.path(), "mems");
    assert_eq!(v[0]["exe"], "/usr/bin/sl\u{fffd}eep");
}

/// The bytes of top-level field `name` in the first entry of image file `path`
/// (its contents, for a length-delimited field), and the entry's message body.
fn field_bytes(
    path: &std::path::Path,
    name: &str,
) -> (Vec<u8>, std::ops::Range<usize>, std::ops::Range<usize>) {
    use crit_fs::schema::Schema;
    let bytes = std::fs::read(path).unwrap();
    let (magic, start) = crit_fs::image::read_magic(&bytes).unwrap();
    let size = u32::from_le_bytes(bytes[start..start + 4].try_into().unwrap()) as usize;
    let body = start + 4..start + 4 + size;
    let crit_fs::image::Layout::Entries(msg, _) = magic.layout else {
        panic!("not an entries image")
    };
    let plan = Schema::get().message(Schema::get().message_id(msg).unwrap());
    let number = plan.fields[plan.field_by_name(name).unwrap()].number;
    let mut pos = 0;
    while let Some(f) = crit_fs::wire::next_field(&bytes[body.clone()], &mut pos) {
        if f.number == number {
            let at = f.data.as_ptr() as usize - bytes.as_ptr() as usize;
            return (bytes.clone(), at..at + f.data.len(), body);
        }
    }
    panic!("{} has no {name}", path.display())
}

#[test]
fn decode_only_keeps_just_the_fields_on_its_paths() {
    use crit_fs::schema::Schema;
    let path = corpus("shell-tree").join("core-18691.img");
    let (bytes, _, body) = field_bytes(&path, "tc");
    let core = Schema::get().message_id("core_entry").unwrap();
    let full = Message::decode(core, &bytes[body.clone()]).unwrap();
    let part =
        Message::decode_only(core, &bytes[body.clone()], &["tc.comm", "tc.task_state"]).unwrap();
    assert_eq!(part.fields.len(), 1, "{part:?}");
    let (tc, full_tc) = (part.msg("tc").unwrap(), full.msg("tc").unwrap());
    assert_eq!(tc.fields.len(), 2, "{tc:?}");
    assert_eq!(tc.str("comm"), full_tc.str("comm"));
    assert_eq!(tc.u64("task_state"), full_tc.u64("task_state"));
    // A path naming a whole field decodes all of it.
    let all: Vec<&str> = Schema::get()
        .message(core)
        .fields
        .iter()
        .map(|f| f.name)
        .collect();
    let whole = Message::decode_only(core, &bytes[body], &all).unwrap();
    assert_eq!(whole.fields, full.fields);
}

#[test]
fn ps_does_not_look_at_what_it_does_not_show() {
    let tmp = copy_case("sleep");
    let want = explore::render(tmp.path(), "ps", false).unwrap();
    let path = tmp.path().join("core-18604.img");
    // The registers become bytes that are no protobuf at all.
    let (mut bytes, regs, _) = field_bytes(&path, "thread_info");
    bytes[regs].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();
    assert!(crit_fs::image::Image::decode(&bytes).is_err());
    assert_eq!(explore::render(tmp.path(), "ps", false).unwrap(), want);
}

#[test]
fn ps_reports_damage_in_what_it_shows() {
    let tmp = copy_case("sleep");
    let path = tmp.path().join("core-18604.img");
    let (mut bytes, tc, _) = field_bytes(&path, "tc");
    bytes[tc].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();
    let e = explore::render(tmp.path(), "ps", false)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("core-18604.img: entry 0 at byte "), "{e}");
    assert!(e.contains("core_entry message: "), "{e}");
    assert!(e.ends_with("(needed by x ps for pid 18604)"), "{e}");
}

/// `x mems` reads a regular mm entry straight from its wire bytes and any
/// other (fields out of order, an unknown field) decoded: both give CRIT's
/// text. Here exe_file_id is moved behind the VMAs, and one VMA carries
/// an unknown field, each in a copy of the sleep case.
#[test]
fn mems_reads_an_irregular_mm_entry_as_a_regular_one() {
    let want = std::fs::read_to_string(corpus("sleep").join("expected/x-mems.txt")).unwrap();
    let reframe = |dir: &std::path::Path, f: &dyn Fn(&[u8]) -> Vec<u8>| {
        let p = dir.join("mm-18604.img");
        let img = std::fs::read(&p).unwrap();
        let (_, start) = crit_fs::image::read_magic(&img).unwrap();
        let size = u32::from_le_bytes(img[start..start + 4].try_into().unwrap()) as usize;
        let body = f(&img[start + 4..start + 4 + size]);
        let mut out = img[..start].to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&img[start + 4 + size..]);
        std::fs::write(&p, out).unwrap();
    };
    // The top-level fields of an mm_entry as (number, raw bytes).
    let fields = |body: &[u8]| {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < body.len() {
            let at = pos;
            let f = crit_fs::wire::next_field(body, &mut pos).unwrap();
            out.push((f.number, body[at..pos].to_vec()));
        }
        out
    };
    let schema = crit_fs::schema::Schema::get();
    let plan = schema.message(schema.message_id("mm_entry").unwrap());
    let number = |name| plan.fields[plan.field_by_name(name).unwrap()].number;
    let (vmas, exe_file_id) = (number("vmas"), number("exe_file_id"));

    let out_of_order = copy_case("sleep");
    reframe(out_of_order.path(), &|body| {
        let (exe, rest): (Vec<_>, Vec<_>) = fields(body)
            .into_iter()
            .partition(|(n, _)| *n == exe_file_id);
        assert_eq!(exe.len(), 1);
        rest.into_iter().chain(exe).flat_map(|(_, b)| b).collect()
    });

    let unknown = copy_case("sleep");
    reframe(unknown.path(), &|body| {
        let mut seen = false;
        let mut out = Vec::new();
        for (n, raw) in fields(body) {
            if n == vmas && !seen {
                seen = true;
                let mut pos = 0;
                let f = crit_fs::wire::next_field(&raw, &mut pos).unwrap();
                let mut vma = f.data.to_vec();
                vma.extend_from_slice(&[0xf8, 0x06, 0x2a]); // field 111, varint 42
                varint(u64::from(vmas) << 3 | 2, &mut out); // length-delimited
                varint(vma.len() as u64, &mut out);
                out.extend_from_slice(&vma);
            } else {
                out.extend_from_slice(&raw);
            }
        }
        assert!(seen);
        out
    });

    for dir in [out_of_order.path(), unknown.path()] {
        let mm = std::fs::read(dir.join("mm-18604.img")).unwrap();
        let (_, start) = crit_fs::image::read_magic(&mm).unwrap();
        let id = schema.message_id("mm_entry").unwrap();
        assert!(
            !crit_fs::wire::is_regular(schema, id, &mm[start + 4..]),
            "{dir:?}"
        );
        assert_eq!(
            explore::render(dir, "mems", false).unwrap(),
            want,
            "{dir:?}"
        );
    }
}

/// `x rss` and `check` read pagemap entries from the wire when they are
/// regular and decoded when not: an unknown field in every entry after the
/// head (and the head) leaves CRIT's `x rss` text and `check`'s findings
/// unchanged.
#[test]
fn rss_and_check_read_irregular_pagemap_entries_alike() {
    let want_rss = std::fs::read_to_string(corpus("sleep").join("expected/x-rss.txt")).unwrap();
    let clean = copy_case("sleep");
    let want_check = crit_fs::check::render(clean.path(), false).unwrap();
    let tmp = copy_case("sleep");
    let p = tmp.path().join("pagemap-18604.img");
    let img = std::fs::read(&p).unwrap();
    let (_, start) = crit_fs::image::read_magic(&img).unwrap();
    let mut out = img[..start].to_vec();
    let mut pos = start;
    let mut n = 0;
    while pos < img.len() {
        let size = u32::from_le_bytes(img[pos..pos + 4].try_into().unwrap()) as usize;
        let mut body = img[pos + 4..pos + 4 + size].to_vec();
        body.extend_from_slice(&[0xf8, 0x06, 0x2a]); // field 111, varint 42
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        pos += 4 + size;
        n += 1;
    }
    assert!(n > 2, "a head and entries");
    std::fs::write(&p, out).unwrap();
    assert_eq!(explore::render(tmp.path(), "rss", false).unwrap(), want_rss);
    assert_eq!(
        crit_fs::check::render(tmp.path(), false).unwrap(),
        want_check
    );
}
