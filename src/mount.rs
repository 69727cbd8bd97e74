//! The daemon of `crit-fs mount` and `crit-fs umount`: checks the arguments,
//! mounts, goes to the background once the mount is ready (like sshfs), unmounts
//! on SIGINT/SIGTERM/SIGHUP, and relies on fusermount3's auto_unmount so that a
//! crash leaves no dead mount behind.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::{Config, CritFs, Invalidate};

/// Arguments of `crit-fs mount`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = MOUNT_OPTIONS_HELP)]
pub struct MountArgs {
    /// The checkpoint directory to show, or a container checkpoint archive
    /// (tar, gzip, zstd or OCI image archive; read-only unless `-o rw`).
    pub dump: PathBuf,
    /// Where to mount it (an existing, empty directory).
    pub mountpoint: PathBuf,
    /// Stay in the foreground (logs go to stderr).
    #[arg(short = 'f', long)]
    pub foreground: bool,
    /// Mount options, comma-separated: ro, rw, allow_other, plain, cache_mb=N, log_file=PATH,
    /// and the generic ones of mount(8) (see below).
    #[arg(short = 'o', value_delimiter = ',', value_name = "OPTIONS")]
    pub options: Vec<String>,
    /// Views hold compact JSON (like `crit-fs decode`) instead of pretty JSON.
    #[arg(long)]
    pub plain: bool,
    /// Memory budget of the rendered-JSON cache, in MiB [default: 256].
    #[arg(long, value_name = "N")]
    pub cache_mb: Option<usize>,
    /// Log file of the background daemon (default /tmp/crit-fs.UID.log).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

/// The `-o` options, for `crit-fs mount --help` and the man page.
pub const MOUNT_OPTIONS_HELP: &str = "\
Options of -o (as in mount(8) and fstab's fourth field):
  ro                    refuse every change (EROFS)
  rw                    allow saving views (the default)
  allow_other           let other users in, with default_permissions
  default_permissions   the kernel checks the modes shown
  plain                 the same as --plain
  cache_mb=N            the same as --cache-mb N
  log_file=PATH         the same as --log-file PATH
  exec, noexec, atime, noatime, sync, async, dirsync
                        passed to the kernel
  relatime              the kernel's default: ignored (strictatime,
                        nodiratime, lazytime and their no- forms are
                        refused: fusermount3 cannot set them)
  nodev, nosuid         always on (dev and suid, which mount.fuse3
                        adds, are ignored)
  auto_unmount          always on where fusermount3 allows it
  auto, noauto, user, users, nouser, owner, group, nofail, _netdev,
  defaults, comment=..., x-...
                        for mount(8) and systemd: ignored

Any other option is refused.

From mount(8) and /etc/fstab (through mount.fuse3, which runs
`crit-fs DUMP MNT -o OPTIONS`; crit-fs must be in /usr/local/bin or
another directory of sh's default PATH, since mount(8) clears PATH):
  mount -t fuse.crit-fs /srv/dump /mnt/dump -o ro
  /srv/dump  /mnt/dump  fuse.crit-fs  ro,noauto,allow_other  0 0
";

/// Mount options after parsing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub read_only: bool,
    pub allow_other: bool,
    pub default_permissions: bool,
    pub plain: bool,
    pub cache_mb: Option<usize>,
    pub log_file: Option<PathBuf>,
    /// Generic options passed to the kernel as given (exec, noatime, sync...).
    pub kernel: Vec<String>,
    /// `rw` was given (an archive mounts read-only without it).
    pub rw: bool,
}

/// Options that go to the kernel (through fusermount3) unchanged.
const KERNEL_OPTIONS: &[&str] = &[
    "exec", "noexec", "atime", "noatime", "sync", "async", "dirsync",
];

/// Generic options of mount(8) that fusermount3 (3.14) refuses to set.
const NOT_BY_FUSERMOUNT: &[&str] = &[
    "norelatime",
    "strictatime",
    "nostrictatime",
    "diratime",
    "nodiratime",
    "lazytime",
    "nolazytime",
];

/// Options of mount(8), fstab and systemd that say nothing to the filesystem.
const IGNORED_OPTIONS: &[&str] = &[
    "auto",
    "noauto",
    "user",
    "users",
    "nouser",
    "owner",
    "group",
    "nofail",
    "_netdev",
    "defaults",
    // crit-fs always mounts nodev,nosuid; mount.fuse3 adds dev,suid to every command line.
    "dev",
    "suid",
    "nodev",
    "nosuid",
    // On whenever fusermount3 allows it (see `serve_inner`).
    "auto_unmount",
    // The kernel's default for every FUSE mount.
    "relatime",
];

/// Parses `-o` options; an unknown one is an error naming it.
pub fn parse_options(opts: &[String]) -> Result<MountOptions> {
    let mut o = MountOptions::default();
    for opt in opts.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, None),
        };
        let bad_value = |what: &str| {
            Error::other(format!(
                "mount option {opt:?}: {what} (see crit-fs mount --help)"
            ))
        };
        match (key, value) {
            ("ro", None) => o.read_only = true,
            ("rw", None) => {
                o.read_only = false;
                o.rw = true;
            }
            ("allow_other", None) => o.allow_other = true,
            ("default_permissions", None) => o.default_permissions = true,
            ("plain", None) => o.plain = true,
            ("cache_mb", Some(v)) => {
                o.cache_mb = Some(v.parse().map_err(|_| bad_value("not a number of MiB"))?)
            }
            ("log_file", Some(v)) if !v.is_empty() => o.log_file = Some(PathBuf::from(v)),
            ("cache_mb" | "log_file", _) => return Err(bad_value("needs a value")),
            (k, None) if KERNEL_OPTIONS.contains(&k) => o.kernel.push(k.to_string()),
            (k, None) if IGNORED_OPTIONS.contains(&k) => {}
            (k, None) if NOT_BY_FUSERMOUNT.contains(&k) => {
                return Err(bad_value("fusermount3 cannot set it on a FUSE mount"));
            }
            ("comment", Some(_)) => {}
            (k, _) if k.starts_with("x-") => {}
            _ => {
                return Err(Error::other(format!(
                    "unknown mount option {opt:?} (known: ro, rw, allow_other, default_permissions, \
                     plain, cache_mb=N, log_file=PATH, and mount(8)'s generic ones: see crit-fs mount --help)"
                )));
            }
        }
    }
    Ok(o)
}

/// Whether `path` (canonical) is a mount point, from /proc/self/mountinfo.
pub fn is_mount_point(path: &Path) -> bool {
    mount_type(path).is_some()
}

/// The file system type of the topmost mount on `path` (canonical), from
/// /proc/self/mountinfo (`fuse.crit-fs` for ours); None if it is no mount point.
fn mount_type(path: &Path) -> Option<String> {
    topmost_mount(path, |sb| Some(sb.split(' ').next()?.to_string()))
}

/// `pick` applied to the super-block fields (what follows ` - `: type,
/// source, options) of the mounts on `path` (canonical) in
/// /proc/self/mountinfo; the last answer, which is the topmost mount's.
fn topmost_mount<T>(path: &Path, pick: impl Fn(&str) -> Option<T>) -> Option<T> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = path.to_string_lossy();
    info.lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .map(unescape_mountinfo)
                .is_some_and(|p| p == want)
        })
        .filter_map(|l| pick(l.split_once(" - ")?.1))
        .next_back()
}

/// A crit-fs mount whose daemon is gone: the kernel answers ENOTCONN (or
/// ECONNABORTED) for it. fusermount3's auto_unmount removes such a mount
/// when the daemon dies, but not always: it gives up when its check races
/// with the kernel tearing down the connection.
fn dead_crit_fs_mount(path: &Path) -> bool {
    let dead = std::fs::metadata(path)
        .is_err_and(|e| matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::ECONNABORTED)));
    dead && mount_type(path).as_deref() == Some("fuse.crit-fs")
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The arguments checked, `-o` merged with the flags.
pub(crate) struct Checked {
    pub dump: PathBuf,
    pub mountpoint: PathBuf,
    pub opts: MountOptions,
    pub cache_mb: usize,
    pub log_file: Option<PathBuf>,
}

/// What sh and execvp use when PATH is not set: mount(8) clears it before it
/// runs mount.fuse3, which runs crit-fs with no PATH at all.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn check(args: &MountArgs) -> Result<Checked> {
    let mut opts = parse_options(&args.options)?;
    opts.plain |= args.plain;
    let cache_mb = opts.cache_mb.or(args.cache_mb).unwrap_or(256);
    let log_file = opts.log_file.clone().or_else(|| args.log_file.clone());
    if args.mountpoint.starts_with("/dev/fd") {
        return Err(Error::other(format!(
            "mount point {}: a descriptor instead of a directory (mount.fuse3's drop_privileges) is not supported",
            args.mountpoint.display()
        )));
    }
    if std::env::var_os("PATH").is_none() {
        // SAFETY: the CLI is single-threaded until the daemon starts serving.
        unsafe { std::env::set_var("PATH", DEFAULT_PATH) };
    }
    let dump = std::fs::canonicalize(&args.dump)
        .map_err(|e| Error::other(format!("dump directory {}: {e}", args.dump.display())))?;
    if crate::archive::is_archive(&dump) {
        if !crate::archive::looks_like_archive(&dump) {
            return Err(Error::other(format!(
                "dump directory {}: {}",
                args.dump.display(),
                crate::archive::NOT_AN_ARCHIVE
            )));
        }
        // An archive's working copy is written back only when asked for.
        opts.read_only = opts.read_only || !opts.rw;
    } else if !dump.is_dir() {
        return Err(Error::other(format!(
            "dump directory {}: not a directory",
            args.dump.display()
        )));
    }
    let mountpoint = std::fs::canonicalize(&args.mountpoint).map_err(|e| {
        Error::other(format!(
            "mount point {}: {e} (crit-fs does not create it: mkdir it first)",
            args.mountpoint.display()
        ))
    })?;
    if dead_crit_fs_mount(&mountpoint) {
        // Nothing can be served by it any more: replace it.
        if lazy_unmount(&mountpoint).is_ok() {
            eprintln!(
                "crit-fs: note: removed the dead mount on {} (its daemon was killed)",
                args.mountpoint.display()
            );
        }
    }
    match std::fs::metadata(&mountpoint) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::other(format!(
                "mount point {}: not a directory",
                args.mountpoint.display()
            )));
        }
        Err(e) => {
            return Err(Error::other(format!(
                "mount point {}: {e}",
                args.mountpoint.display()
            )));
        }
    }
    if is_mount_point(&mountpoint) {
        return Err(Error::other(format!(
            "mount point {}: already a mount point (unmount it first)",
            args.mountpoint.display()
        )));
    }
    if !Path::new("/dev/fuse").exists() {
        return Err(Error::other(
            "/dev/fuse does not exist: load the fuse module (modprobe fuse)",
        ));
    }
    if !in_path("fusermount3") {
        return Err(Error::other(
            "fusermount3 not found in PATH: install fuse3 (apt-get install fuse3)",
        ));
    }
    Ok(Checked {
        dump,
        mountpoint,
        opts,
        cache_mb,
        log_file,
    })
}

/// `crit-fs mount`: returns once the mount is ready (or failed).
pub fn mount(args: MountArgs) -> Result<()> {
    let checked = check(&args)?;
    if args.foreground {
        init_logging();
        return serve(&checked, None);
    }
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no other thread runs yet (the CLI is single-threaded until here).
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error().into()),
        0 => {
            drop(rd);
            let code = daemon_child(&checked, wr);
            std::process::exit(code);
        }
        _child => {
            drop(wr);
            let mut msg = String::new();
            let _ = std::fs::File::from(rd).read_to_string(&mut msg);
            match msg.strip_prefix("ok") {
                Some(_) => Ok(()),
                None if msg.is_empty() => {
                    Err(Error::other("the daemon exited before the mount was ready"))
                }
                None => Err(Error::other(msg.trim_end().trim_start_matches("error: "))),
            }
        }
    }
}

fn daemon_child(checked: &Checked, ready: OwnedFd) -> i32 {
    // SAFETY: plain system calls on our own process.
    unsafe {
        libc::setsid();
    }
    let _ = std::env::set_current_dir("/");
    let log = checked.log_file.clone().unwrap_or_else(|| {
        // SAFETY: getuid has no preconditions.
        PathBuf::from(format!("/tmp/crit-fs.{}.log", unsafe { libc::getuid() }))
    });
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        redirect(&null, 0);
        redirect(&null, 1);
    }
    if let Ok(f) = OpenOptions::new().create(true).append(true).open(&log) {
        redirect(&f, 2);
    }
    init_logging();
    match serve(checked, Some(ready)) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}

fn redirect(f: &std::fs::File, to: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: both are valid descriptors.
    unsafe {
        libc::dup2(f.as_raw_fd(), to);
    }
}

fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp_millis()
        .try_init();
}

fn tell(ready: &mut Option<OwnedFd>, msg: &str) {
    if let Some(fd) = ready.take() {
        let _ = std::fs::File::from(fd).write_all(msg.as_bytes());
    }
}

fn serve(checked: &Checked, mut ready: Option<OwnedFd>) -> Result<()> {
    let result = serve_inner(checked, &mut ready);
    if let Err(e) = &result {
        tell(&mut ready, &format!("error: {e}\n"));
    }
    result
}

fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset operations on a local set; pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Raises the soft limit of open descriptors to the hard limit: every open
/// raw file of the mount holds one of the daemon's descriptors, and the usual
/// soft limit (1024) would make a client's 1,000th open fail with EMFILE.
/// Beyond the hard limit, opens fail with EMFILE and the daemon goes on serving.
fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill and then read.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
        }
    };
    if raised {
        log::info!("open file limit raised to {}", lim.rlim_cur);
    } else {
        log::warn!(
            "open file limit not raised: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn serve_inner(checked: &Checked, ready: &mut Option<OwnedFd>) -> Result<()> {
    // Blocked before any thread starts, so that only the signal thread takes them.
    let sigs = block_signals();
    raise_nofile_limit();
    let archive = if crate::archive::is_archive(&checked.dump) {
        Some(crate::mount_archive::open(checked)?)
    } else {
        None
    };
    let mut cfg = Config::new(checked.dump.clone());
    cfg.plain = checked.opts.plain;
    cfg.cache_budget = checked.cache_mb.saturating_mul(1 << 20);
    cfg.read_only = checked.opts.read_only;
    if let Some(a) = &archive {
        a.configure(&mut cfg);
    }
    let core = Arc::new(CritFs::new(cfg).map_err(|e| Error::other(e.message))?);
    if !checked.opts.read_only {
        core.remove_stale_temp_files();
    }
    let mut options = vec![
        fuser::MountOption::FSName(checked.dump.to_string_lossy().into_owned()),
        fuser::MountOption::Subtype("crit-fs".into()),
        fuser::MountOption::NoDev,
        fuser::MountOption::NoSuid,
    ];
    if checked.opts.read_only {
        options.push(fuser::MountOption::RO);
    }
    if checked.opts.default_permissions && !checked.opts.allow_other {
        options.push(fuser::MountOption::DefaultPermissions);
    }
    options.extend(
        checked
            .opts
            .kernel
            .iter()
            .map(|o| fuser::MountOption::CUSTOM(o.clone())),
    );
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let may_allow_other = root
        || std::fs::read_to_string("/etc/fuse.conf")
            .is_ok_and(|c| c.lines().any(|l| l.trim() == "user_allow_other"));
    let acl = if checked.opts.allow_other {
        options.push(fuser::MountOption::DefaultPermissions);
        fuser::SessionACL::All
    } else {
        fuser::SessionACL::RootAndOwner
    };
    if may_allow_other {
        options.push(fuser::MountOption::AutoUnmount);
    } else {
        log::warn!(
            "auto_unmount needs user_allow_other in /etc/fuse.conf; a crash may leave a dead mount"
        );
    }
    let mut config = fuser::Config::default();
    config.mount_options = options;
    config.acl = if may_allow_other || checked.opts.allow_other {
        acl
    } else {
        fuser::SessionACL::Owner
    };
    config.n_threads = Some(4);
    let mut session = fuser::Session::new(
        crate::fuse::FuseFs::new(core.clone()),
        &checked.mountpoint,
        &config,
    )
    .map_err(|e| Error::other(format!("mount on {}: {e}", checked.mountpoint.display())))?;

    let notifier = session.notifier();
    let (tx, rx) = std::sync::mpsc::channel::<Invalidate>();
    let tx = std::sync::Mutex::new(tx);
    core.set_invalidator(Box::new(move |i| {
        let _ = tx.lock().map(|t| t.send(i));
    }));
    std::thread::Builder::new()
        .name("invalidate".into())
        .spawn(move || {
            for Invalidate::Inode(ino) in rx {
                if let Err(e) = notifier.inval_inode(fuser::INodeNo(ino), 0, 0) {
                    log::debug!("invalidate inode {ino}: {e}");
                }
            }
        })?;
    let mut unmounter = session.unmount_callable();
    let mnt = checked.mountpoint.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut sig = 0;
            // SAFETY: `sigs` is a valid set; `sig` a valid out-pointer.
            if unsafe { libc::sigwait(&sigs, &mut sig) } == 0 {
                log::info!("signal {sig}: unmounting {}", mnt.display());
                // Dropping fusermount3's auto_unmount socket does not unmount a
                // live connection; unmount explicitly (lazily: open files may remain).
                if let Err(e) = unmounter.unmount() {
                    log::debug!("unmount {}: {e}", mnt.display());
                }
                if is_mount_point(&mnt)
                    && let Err(e) = lazy_unmount(&mnt)
                {
                    log::warn!("fusermount3 -u -z {}: {e}", mnt.display());
                }
            }
        })?;
    log::info!(
        "mounted {} on {}",
        checked.dump.display(),
        checked.mountpoint.display()
    );
    tell(ready, "ok\n");
    session
        .run()
        .map_err(|e| Error::other(format!("session: {e}")))?;
    log::info!("unmounted {}", checked.mountpoint.display());
    drop(core);
    if let Some(a) = archive {
        a.finish();
    }
    Ok(())
}

/// `fusermount3 -u -z MNT`: detaches the mount now, whatever is still open
/// in it. The error is fusermount3's first line on stderr.
fn lazy_unmount(mnt: &Path) -> std::result::Result<(), String> {
    let out = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg("-z")
        .arg(mnt)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr);
    Err(msg.lines().next().unwrap_or("failed").trim().to_string())
}

/// `crit-fs umount MNT`: `fusermount3 -u MNT`, with a one-line error.
pub fn umount(mnt: &Path) -> Result<()> {
    let canon =
        std::fs::canonicalize(mnt).map_err(|e| Error::other(format!("{}: {e}", mnt.display())))?;
    if !is_mount_point(&canon) {
        return Err(Error::other(format!(
            "{}: not a mount point",
            mnt.display()
        )));
    }
    let source = mount_source(&canon);
    let out = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg(&canon)
        .output()
        .map_err(|e| Error::other(format!("fusermount3: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(Error::other(format!(
            "unmount {}: {}",
            mnt.display(),
            msg.lines().next().unwrap_or("fusermount3 failed").trim()
        )));
    }
    if source.as_deref().is_some_and(crate::archive::is_archive) {
        crate::mount_archive::wait_for_daemon(&canon)?;
    }
    Ok(())
}

/// The source (FSName) of the topmost mount on `path`, from /proc/self/mountinfo.
fn mount_source(path: &Path) -> Option<PathBuf> {
    topmost_mount(path, |sb| Some(unescape_mountinfo(sb.split(' ').nth(1)?))).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<MountOptions> {
        parse_options(&s.split(',').map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn options_parse_and_reject_unknown() {
        let o = parse("ro,allow_other").unwrap();
        assert!(o.read_only && o.allow_other);
        assert!(!parse("ro,rw").unwrap().read_only, "the last one wins");
        let o =
            parse("plain,cache_mb=8,log_file=/tmp/l,noexec,noatime,default_permissions").unwrap();
        assert!(o.plain && o.default_permissions);
        assert_eq!(o.cache_mb, Some(8));
        assert_eq!(o.log_file.as_deref(), Some(Path::new("/tmp/l")));
        assert_eq!(o.kernel, ["noexec", "noatime"]);
        let ignored =
            parse("dev,suid,nodev,nosuid,noauto,_netdev,nofail,user,x-systemd.after=a,comment=b");
        assert_eq!(ignored.unwrap(), MountOptions::default());
        for bad in [
            "bogus",
            "ro=1",
            "cache_mb=x",
            "cache_mb",
            "log_file=",
            "xsystemd",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
    }
}
