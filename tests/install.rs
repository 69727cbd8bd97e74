//! crit-fs installed like a system tool: man pages and shell completions that
//! follow the command tree, `mount -t fuse.crit-fs` and fstab lines through
//! mount(8) and mount.fuse3, and scripts/demo's set-up of a fresh machine.

mod mounting;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use clap::CommandFactory;
use crit_fs::cli::Cli;
use mounting::*;

// ---------------------------------------------------------------- the command tree

/// Every command of the CLI (the top one first), as `crit-fs man` documents them.
fn commands() -> Vec<clap::Command> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    let mut out = Vec::new();
    let mut todo = vec![top];
    while let Some(c) = todo.pop() {
        todo.extend(c.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        out.push(c);
    }
    out
}

fn page_name(c: &clap::Command) -> String {
    format!("{}.1", c.get_display_name().unwrap_or(c.get_name()))
}

/// A man page as words: roff's escaped minus and font changes removed.
fn roff_text(page: &str) -> String {
    page.replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\*(Aq", "'")
}

/// Whether `text` holds the option `flag` (`-o`, `--out`) as a word of its own,
/// not as part of a longer one (`-o` in `--out`).
fn has_flag(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + flag.len()..].chars().next();
        !matches!(before, Some(c) if c == '-' || c.is_alphanumeric())
            && !matches!(after, Some(c) if c == '-' || c == '_' || c.is_alphanumeric())
    })
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------- man pages

#[test]
fn man_pages_mention_every_option() {
    let t = TempDir::new("man");
    let dir = t.0.join("man1");
    let out = Command::new(bin()).arg("man").arg(&dir).output().unwrap();
    ok(&out, "crit-fs man DIR");
    let cmds = commands();
    let want: BTreeSet<String> = cmds.iter().map(page_name).collect();
    let listed: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            Path::new(l)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let files: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, want, "the paths printed");
    assert_eq!(files, want, "the files written: one page per command");
    assert!(want.contains("crit-fs-mount.1") && want.contains("crit-fs-decode.1"));

    for c in &cmds {
        let name = page_name(c);
        let page = roff_text(&fs::read_to_string(dir.join(&name)).unwrap());
        let title = c.get_display_name().unwrap_or(c.get_name());
        assert!(page.starts_with(".ie") && page.contains(&format!(".TH {title} 1")));
        for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(l) = a.get_long() {
                assert!(has_flag(&page, &format!("--{l}")), "{name}: --{l}");
            }
            if let Some(s) = a.get_short() {
                assert!(has_flag(&page, &format!("-{s}")), "{name}: -{s}");
            }
            if a.is_positional() {
                let names: Vec<String> = match a.get_value_names() {
                    Some(v) => v.iter().map(|n| n.to_string()).collect(),
                    None => vec![a.get_id().as_str().to_uppercase()],
                };
                for n in names {
                    let shown = if a.is_required_set() {
                        format!("<{n}>")
                    } else {
                        format!("[{n}]")
                    };
                    assert!(page.contains(&shown), "{name}: {shown}");
                }
            }
            if let Some(help) = a.get_long_help().or(a.get_help()) {
                let help = help.to_string();
                assert!(page.contains(&help), "{name}: the help of {}", a.get_id());
            }
        }
        for s in c.get_subcommands() {
            let sub = s.get_display_name().unwrap_or(s.get_name());
            assert!(page.contains(&format!("{sub}(1)")), "{name} names {sub}(1)");
        }
    }
    // The mount page lists the -o options, mount(8)'s included.
    let mount = roff_text(&fs::read_to_string(dir.join("crit-fs-mount.1")).unwrap());
    for o in [
        "allow_other",
        "cache_mb=N",
        "log_file=PATH",
        "noauto",
        "_netdev",
        "x-...",
    ] {
        assert!(mount.contains(o), "crit-fs-mount.1: {o}");
    }

    // Without DIR, crit-fs(1) on stdout.
    let top = Command::new(bin()).arg("man").output().unwrap();
    ok(&top, "crit-fs man");
    assert_eq!(top.stdout, fs::read(dir.join("crit-fs.1")).unwrap());

    // man(1) renders every page without a warning of groff's.
    if Command::new("groff").arg("--version").output().is_err() {
        println!("skipped: groff is not installed (rendering of the pages not checked)");
        return;
    }
    for n in &want {
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.join(n))
            .output()
            .unwrap();
        ok(&out, n);
        assert!(
            out.stderr.is_empty(),
            "groff {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------- completions

/// `NAME completions SHELL`, run through a symlink called NAME.
fn completion_script(dir: &Path, name: &str, shell: &str) -> String {
    let exe = dir.join(name);
    if !exe.exists() {
        symlink(bin(), &exe).unwrap();
    }
    let out = Command::new(&exe)
        .args(["completions", shell])
        .output()
        .unwrap();
    ok(&out, &format!("{name} completions {shell}"));
    String::from_utf8(out.stdout).unwrap()
}

/// What bash completes for the words `words` (the last one being typed).
fn bash_complete(script: &Path, name: &str, words: &[&str]) -> Vec<String> {
    let func = format!("_{}", name.replace('-', "__"));
    let list = std::iter::once(name)
        .chain(words.iter().copied())
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let cword = words.len();
    let prev = if cword >= 2 { words[cword - 2] } else { name };
    let cur = words[cword - 1];
    let cmd = format!(
        "source '{}'; COMP_WORDS=({list}); COMP_CWORD={cword}; {func} '{name}' '{cur}' '{prev}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").arg("-c").arg(&cmd).output().unwrap();
    ok(&out, &cmd);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_every_command_and_option() {
    let t = TempDir::new("bash-completion");
    for name in ["crit-fs", "crit"] {
        let script = t.0.join(format!("{name}.bash"));
        fs::write(&script, completion_script(&t.0, name, "bash")).unwrap();
        let top = bash_complete(&script, name, &[""]);
        let tree = commands();
        let subs: Vec<&clap::Command> = tree[0].get_subcommands().collect();
        assert!(subs.len() >= 10);
        for c in subs {
            let sub = c.get_name();
            assert!(
                top.contains(&sub.to_string()),
                "{name} <TAB>: {sub} in {top:?}"
            );
            let got = bash_complete(&script, name, &[sub, "-"]);
            for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(l) = a.get_long() {
                    let l = format!("--{l}");
                    assert!(got.contains(&l), "{name} {sub} -<TAB>: {l} in {got:?}");
                }
            }
        }
        let shells = bash_complete(&script, name, &["completions", ""]);
        for s in ["bash", "zsh", "fish"] {
            assert!(
                shells.contains(&s.to_string()),
                "{name} completions <TAB>: {s}"
            );
        }
    }
}

#[test]
fn zsh_and_fish_completions_cover_every_option() {
    let t = TempDir::new("completion");
    for (shell, ext) in [("zsh", "zsh"), ("fish", "fish")] {
        let text = completion_script(&t.0, "crit-fs", shell);
        for c in &commands()[1..] {
            assert!(text.contains(c.get_name()), "{shell}: {}", c.get_name());
            for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(l) = a.get_long() {
                    assert!(text.contains(l), "{shell}: {} --{l}", c.get_name());
                }
            }
        }
        let file = t.0.join(format!("crit-fs.{ext}"));
        fs::write(&file, &text).unwrap();
        match Command::new(shell).arg("-n").arg(&file).output() {
            Ok(out) => ok(&out, &format!("{shell} -n")),
            Err(_) => {
                println!("skipped: {shell} is not installed (syntax of its script not checked)")
            }
        }
    }
    // fish answers a completion request itself: the options of `decode`.
    if let Ok(out) = Command::new("fish")
        .arg("-c")
        .arg(format!(
            "source {}; complete -C 'crit-fs decode --'",
            t.0.join("crit-fs.fish").display()
        ))
        .output()
    {
        ok(&out, "fish complete -C");
        let got = String::from_utf8(out.stdout).unwrap();
        for o in ["--pretty", "--in", "--out"] {
            assert!(got.lines().any(|l| l.starts_with(o)), "fish: {o} in {got}");
        }
    } else {
        println!("skipped: fish is not installed (its completion of decode's options not run)");
    }
}

// ---------------------------------------------------------------- mount(8) and fstab

/// Why mount(8) tests cannot run here, if they cannot.
fn mount8_missing() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (mount(8) of a fuse type needs root)".into());
    }
    if !["/sbin/mount.fuse3", "/usr/sbin/mount.fuse3"]
        .iter()
        .any(|p| Path::new(p).exists())
    {
        return Some("mount.fuse3 is not installed (Debian package fuse3)".into());
    }
    if !Path::new("/usr/local/sbin").is_dir() {
        return Some("/usr/local/sbin does not exist".into());
    }
    None
}

/// Runs `script` with bash in a mount namespace of its own, where
/// /usr/local/sbin holds only `crit-fs` (a symlink to the binary under test):
/// mount(8) clears PATH, and mount.fuse3's sh finds crit-fs in its default
/// PATH, /usr/local/sbin first. The script gets the dump, the mount point and
/// an output directory as $1..$3, and unmounts on exit whatever happens; the
/// namespace goes with it.
fn in_mount_namespace(tmp: &Path, script: &str, dump: &Path, mnt: &Path) -> PathBuf {
    let sbin = tmp.join("sbin");
    fs::create_dir_all(&sbin).unwrap();
    symlink(bin(), sbin.join("crit-fs")).unwrap();
    let out_dir = tmp.join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let full = format!(
        "set -u\n\
         trap 'umount \"$2\" 2>/dev/null || umount -l \"$2\" 2>/dev/null' EXIT\n\
         mount --bind '{}' /usr/local/sbin || exit 90\n{script}",
        sbin.display()
    );
    let out = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "bash",
            "-c",
            &full,
            "bash",
        ])
        .arg(dump)
        .arg(mnt)
        .arg(&out_dir)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin") // no crit-fs on it: mount(8) clears it anyway
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "script: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out_dir
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// Whether a crit-fs daemon serving `dump` on `mnt` is still running.
fn daemon_running(dump: &Path, mnt: &Path) -> bool {
    fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            return false;
        };
        let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        argv.len() >= 3
            && argv[0].ends_with(b"crit-fs")
            && argv.contains(&dump.as_os_str().as_encoded_bytes())
            && argv.contains(&mnt.as_os_str().as_encoded_bytes())
    })
}

fn daemon_exits(dump: &Path, mnt: &Path) -> bool {
    for _ in 0..200 {
        if !daemon_running(dump, mnt) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// The options field of `mnt`'s line of mountinfo as the script saved it:
/// the per-mount options and the super block's, joined.
fn mount_options(mountinfo: &str) -> Vec<String> {
    let line = mountinfo.lines().next().unwrap_or_default();
    let fields: Vec<&str> = line.split(' ').collect();
    let per_mount = fields.get(5).copied().unwrap_or_default();
    let sb = line.split(" - ").nth(1).unwrap_or_default();
    let sb_opts = sb.split(' ').nth(2).unwrap_or_default();
    per_mount
        .split(',')
        .chain(sb_opts.split(','))
        .map(String::from)
        .collect()
}

#[test]
fn mount_t_fuse_crit_fs() {
    if let Some(why) = mount8_missing() {
        println!("skipped: {why}");
        return;
    }
    let _beside = beside();
    let (t, dump, mnt) = dump_and_mnt("sleep", "mount-t");
    let out = in_mount_namespace(
        &t.0,
        r#"
        mount -t fuse.crit-fs "$1" "$2" -o ro 2>"$3/mount.err"; echo $? >"$3/mount.rc"
        grep -F " $2 " /proc/self/mountinfo >"$3/mountinfo"
        cp "$2/pstree.json" "$3/pstree.json"
        cp "$2/.crit-fs/HELP" "$3/HELP"
        touch "$2/new" 2>"$3/touch.err"; echo $? >"$3/touch.rc"
        umount "$2"; echo $? >"$3/umount.rc"
        grep -cF " $2 " /proc/self/mountinfo >"$3/after"
        mount -t fuse.crit-fs "$1" "$2" -o ro,bogus 2>"$3/bogus.err"; echo $? >"$3/bogus.rc"
        "#,
        &dump,
        &mnt,
    );
    assert_eq!(read(&out, "mount.rc"), "0\n", "{}", read(&out, "mount.err"));
    let info = read(&out, "mountinfo");
    assert!(info.contains(" - fuse.crit-fs "), "{info}");
    let opts = mount_options(&info);
    for o in ["ro", "nosuid", "nodev"] {
        assert!(opts.contains(&o.to_string()), "{o} in {opts:?}");
    }
    assert_eq!(
        fs::read(out.join("pstree.json")).unwrap(),
        decode(&dump.join("pstree.img"), true)
    );
    assert!(read(&out, "HELP").contains("read-only (-o ro)"));
    assert_ne!(read(&out, "touch.rc"), "0\n");
    assert!(read(&out, "touch.err").contains("Read-only file system"));
    assert_eq!(read(&out, "umount.rc"), "0\n");
    assert_eq!(read(&out, "after"), "0\n");
    assert!(daemon_exits(&dump, &mnt), "the daemon ends with its mount");
    assert_ne!(read(&out, "bogus.rc"), "0\n");
    let err = read(&out, "bogus.err");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown mount option \"bogus\""), "{err}");
    assert!(!is_mounted(&mnt));
}

#[test]
fn fstab_line_mounts() {
    if let Some(why) = mount8_missing() {
        println!("skipped: {why}");
        return;
    }
    let _beside = beside();
    let (t, dump, mnt) = dump_and_mnt("sleep", "fstab");
    let fstab = t.0.join("fstab");
    let log = t.0.join("daemon.log");
    fs::write(
        &fstab,
        format!(
            "# a line as /etc/fstab would have it\n\
             {} {} fuse.crit-fs ro,noauto,allow_other,nofail,_netdev,x-systemd.automount,users,noatime,plain,cache_mb=16,log_file={} 0 0\n",
            dump.display(),
            mnt.display(),
            log.display()
        ),
    )
    .unwrap();
    let out = in_mount_namespace(
        &t.0,
        &format!(
            r#"
            mount -T '{}' "$2" 2>"$3/mount.err"; echo $? >"$3/mount.rc"
            grep -F " $2 " /proc/self/mountinfo >"$3/mountinfo"
            cp "$2/pstree.json" "$3/pstree.json"
            umount "$2"; echo $? >"$3/umount.rc"
            "#,
            fstab.display()
        ),
        &dump,
        &mnt,
    );
    assert_eq!(read(&out, "mount.rc"), "0\n", "{}", read(&out, "mount.err"));
    let opts = mount_options(&read(&out, "mountinfo"));
    for o in ["ro", "noatime", "allow_other", "nosuid", "nodev"] {
        assert!(opts.contains(&o.to_string()), "{o} in {opts:?}");
    }
    // plain: compact JSON, as `decode` prints it.
    assert_eq!(
        fs::read(out.join("pstree.json")).unwrap(),
        decode(&dump.join("pstree.img"), false)
    );
    assert!(log.exists(), "log_file= names the daemon's log");
    assert_eq!(read(&out, "umount.rc"), "0\n");
    assert!(daemon_exits(&dump, &mnt));
    assert!(!is_mounted(&mnt));
}

// ---------------------------------------------------------------- scripts/demo

/// A directory of tools for scripts/demo: symlinks to the real ones, except
/// fusermount3, and an apt-get that logs its arguments and, on `install`,
/// puts fusermount3 there (as installing fuse3 would).
fn demo_path(dir: &Path, with_apt: bool) -> PathBuf {
    let tools = dir.join("bin");
    fs::create_dir_all(&tools).unwrap();
    for tool in [
        "bash",
        "env",
        "dirname",
        "mkdir",
        "mountpoint",
        "rm",
        "cp",
        "cat",
        "ls",
        "id",
    ] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} not found"));
        symlink(real, tools.join(tool)).unwrap();
    }
    if with_apt {
        let fusermount = ["/usr/bin/fusermount3", "/bin/fusermount3"]
            .iter()
            .find(|p| Path::new(p).exists())
            .expect("fusermount3");
        fs::write(
            tools.join("apt-get"),
            format!(
                "#!/usr/bin/bash\necho \"$*\" >>'{log}'\n\
                 if [ \"$1\" = install ]; then {ln} -sf {fusermount} '{tools}/fusermount3'; fi\n",
                ln = ["/usr/bin/ln", "/bin/ln"]
                    .iter()
                    .find(|p| Path::new(p).exists())
                    .expect("ln"),
                log = dir.join("apt.log").display(),
                tools = tools.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tools.join("apt-get"), fs::Permissions::from_mode(0o755)).unwrap();
    }
    tools
}

fn demo(tools: &Path, mnt: &Path, uid: Option<&str>) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo");
    let mut path = tools.display().to_string();
    if let Some(uid) = uid {
        // An `id` that answers `id -u` as another user would.
        let fake = tools.join("fake-id");
        fs::create_dir_all(&fake).unwrap();
        fs::write(fake.join("id"), format!("#!/usr/bin/bash\necho {uid}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(fake.join("id"), fs::Permissions::from_mode(0o755)).unwrap();
        path = format!("{}:{path}", fake.display());
    }
    Command::new(tools.join("bash"))
        .arg(script)
        .arg(corpus().join("sleep"))
        .arg(mnt)
        .env("PATH", path)
        .env("CRIT_FS_BIN", bin())
        .output()
        .unwrap()
}

#[test]
fn demo_installs_fuse3_as_root_with_apt_get() {
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: not root (the demo mounts)");
        return;
    }
    let _beside = beside();
    let t = TempDir::new("demo-apt");
    let tools = demo_path(&t.0, true);
    let mnt = t.0.join("demo/mnt");
    let out = demo(&tools, &mnt, None);
    let _guard = scopeguard(&mnt);
    ok(&out, "scripts/demo");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("installing fuse3 with apt-get"), "{err}");
    assert_eq!(read(&t.0, "apt.log"), "update -qq\ninstall -y -qq fuse3\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sleep") && stdout.contains("\"magic\": \"PSTREE\""),
        "{stdout}"
    );
    assert!(is_mounted(&mnt), "the demo leaves its mount for the user");
}

#[test]
fn demo_names_the_command_when_it_cannot_install() {
    let t = TempDir::new("demo-hint");
    // Not root, apt-get present: the one command, with sudo.
    let tools = demo_path(&t.0, true);
    let mnt = t.0.join("demo/mnt");
    let out = demo(&tools, &mnt, Some("1000"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fusermount3 not found"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.trim() == "sudo apt-get install fuse3"),
        "{err}"
    );
    assert_eq!(read(&t.0, "apt.log"), "", "nothing installed");
    assert!(!is_mounted(&mnt) && !mnt.exists());
    // Root without apt-get: what to install, and no sudo.
    let t = TempDir::new("demo-noapt");
    let tools = demo_path(&t.0, false);
    let out = demo(&tools, &mnt, Some("0"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("install your distribution's fuse3 package"),
        "{err}"
    );
}

/// Unmounts `mnt` when dropped.
fn scopeguard(mnt: &Path) -> impl Drop + '_ {
    struct G<'a>(&'a Path);
    impl Drop for G<'_> {
        fn drop(&mut self) {
            unmount(self.0);
        }
    }
    G(mnt)
}
