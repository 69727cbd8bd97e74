//! The command line: crit's commands (`decode`, `encode`, `show`, `info`, `x`)
//! with crit's flags, plus crit-fs's own (`check`, `mem`, `mount`, `umount`, `man`,
//! `completions`), and `crit-fs DUMP MNT -o OPTS` as mount.fuse3 runs it.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{CommandFactory, Parser, Subcommand};

use crate::codec::{self, Options};
use crate::error::{Error, Result};
use crate::mapped::{self, Input, Pages};

/// Version of CRIT whose output crit-fs reproduces, and of CRIU whose image
/// format (its `images/*.proto` and magics) crit-fs reads and writes.
pub const CRIT_VERSION: &str = "4.2";

/// What `crit-fs --version` prints after the name.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (CRIU image format 4.2)");

/// The end of `crit-fs --help` and of crit-fs(1).
const AFTER_HELP: &str = "\
Invoked as `crit` (a symbolic link), it answers crit's commands the same way.

mount(8) and /etc/fstab run `crit-fs DUMP MNT -o OPTIONS` (through mount.fuse3)
for a file system of type fuse.crit-fs; that is `crit-fs mount DUMP MNT -o OPTIONS`:
  mount -t fuse.crit-fs /srv/dump /mnt/dump -o ro
  /srv/dump  /mnt/dump  fuse.crit-fs  ro,noauto,allow_other  0 0

The options are in crit-fs-mount(1) (`crit-fs mount --help`); `.crit-fs/HELP`
in a mount says what its files are.";

#[derive(Parser, Debug)]
#[command(
    name = "crit-fs",
    version = VERSION,
    about = "CRiu Image Tool, and CRIU checkpoints as a filesystem",
    after_long_help = AFTER_HELP,
    disable_version_flag = true
)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(long = "version", action = clap::ArgAction::SetTrue)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Convert a criu image from binary to JSON.
    Decode {
        /// Multiline with indents and some numerical fields in field-specific format.
        #[arg(long)]
        pretty: bool,
        /// Criu image in binary format to be decoded (stdin by default).
        #[arg(short = 'i', long = "in")]
        input: Option<PathBuf>,
        /// Where to put the criu image in JSON format (stdout by default).
        #[arg(short = 'o', long = "out")]
        output: Option<PathBuf>,
    },
    /// Convert a criu image from JSON to binary.
    Encode {
        /// Criu image in JSON format to be encoded (stdin by default).
        #[arg(short = 'i', long = "in")]
        input: Option<PathBuf>,
        /// Where to put the criu image in binary format (stdout by default).
        #[arg(short = 'o', long = "out")]
        output: Option<PathBuf>,
    },
    /// Show information about an image: its magic and number of entries.
    Info {
        #[arg(value_name = "in")]
        input: PathBuf,
    },
    /// Explore an image directory (or a container checkpoint archive): ps, fds, mems, rss, sk.
    X {
        dir: PathBuf,
        what: String,
        /// The same information as JSON.
        #[arg(long)]
        json: bool,
        /// x ps: each process's command line, read from its memory.
        #[arg(long)]
        cmdline: bool,
    },
    /// A process's memory: hexdump of the dumped ranges, a range, raw bytes,
    /// search (DIR may be a container checkpoint archive).
    Mem {
        dir: PathBuf,
        pid: u64,
        /// Start of a range to show (decimal, or hex with 0x); holes included.
        #[arg(long, value_parser = crate::memcmd::parse_number)]
        addr: Option<u64>,
        /// Length of the range (default 256).
        #[arg(long, value_parser = crate::memcmd::parse_number, requires = "addr")]
        len: Option<u64>,
        /// Write the raw bytes to FILE instead of a hexdump.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Search for this text.
        #[arg(long, group = "pattern", value_name = "TEXT")]
        search: Option<OsString>,
        /// Search for these bytes, in hex ("de ad be ef").
        #[arg(long, group = "pattern", value_name = "BYTES")]
        hex: Option<String>,
        /// Search for a regular expression (Rust regex syntax, over bytes).
        #[arg(long, group = "pattern", value_name = "RE")]
        regex: Option<String>,
        /// Bytes shown before and after each match.
        #[arg(long, default_value_t = 16, value_parser = crate::memcmd::parse_number)]
        context: u64,
        /// Print only the number of matches.
        #[arg(long, requires = "pattern")]
        count: bool,
    },
    /// Convert a criu image from binary to human-readable JSON.
    Show {
        #[arg(value_name = "in")]
        input: PathBuf,
        /// Do not show entry payloads (if any).
        #[arg(long)]
        nopl: bool,
    },
    /// Validate a checkpoint directory (or archive): images present, ids consistent.
    Check {
        dir: PathBuf,
        /// Findings as JSON.
        #[arg(long)]
        json: bool,
        /// Also check what restore needs from this host: files, ports, pids.
        #[arg(long)]
        host: bool,
    },
    /// What a checkpoint (directory or container archive) holds: container
    /// facts, the process tree with command lines, files, sockets, mounts.
    Inspect {
        dump: PathBuf,
        /// The same as JSON.
        #[arg(long)]
        json: bool,
        /// Add CRIU's dump statistics (freezing and frozen time, pages).
        #[arg(long)]
        stats: bool,
        /// Add each process's environment variables (from its dumped memory).
        #[arg(long)]
        env: bool,
    },
    /// Write ELF core files (core.PID) of the dumped processes.
    Coredump {
        dir: PathBuf,
        /// Only this process (repeatable; default: every process with memory).
        #[arg(short = 'p', long = "pid", value_name = "PID")]
        pids: Vec<u64>,
        /// Directory to write core.PID into (default: the current directory).
        #[arg(short = 'o', long = "out", value_name = "OUTDIR")]
        out: Option<PathBuf>,
    },
    /// Mount a checkpoint directory or container archive as a filesystem of JSON views.
    Mount(crate::mount::MountArgs),
    /// Unmount a crit-fs mount.
    Umount { mountpoint: PathBuf },
    /// Write the man pages, one per command (crit-fs.1, crit-fs-decode.1, ...), into DIR;
    /// without DIR, print crit-fs.1.
    Man {
        /// Directory to write the pages into (created if missing), e.g. /usr/local/share/man/man1.
        dir: Option<PathBuf>,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// Runs the command line; the exit code follows crit (1 on any error).
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "crit-fs".into());
    let _ = PROGRAM.set(invoked_as.clone());
    let args = mount_helper_form(args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.version {
        if invoked_as == "crit" {
            println!("{CRIT_VERSION}");
        } else {
            println!("crit-fs {VERSION}");
        }
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!(
            "usage: {invoked_as} {{decode,encode,info,x,show,check,inspect,mem,coredump,mount,umount,man,completions}} ..."
        );
        eprintln!("{invoked_as}: error: too few arguments");
        return ExitCode::from(1);
    };
    let command = match command {
        Command::Completions { shell } => {
            let script = completions(shell, &invoked_as);
            return finish(write_stdout(script.as_bytes()), &invoked_as);
        }
        c => c,
    };
    finish(run(command), &invoked_as)
}

fn finish(result: Result<()>, invoked_as: &str) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{invoked_as}: {e}");
            ExitCode::from(1)
        }
    }
}

/// `crit-fs DUMP MNT [-o OPTS]`, as mount.fuse3 runs it for `mount -t
/// fuse.crit-fs` and fstab, becomes `crit-fs mount DUMP MNT [-o OPTS]`. The
/// first argument must look like a directory (a path with a slash, or an
/// existing directory), so that a mistyped command stays an unknown command.
fn mount_helper_form(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(first) = args.get(1) else {
        return args;
    };
    let bytes = first.as_encoded_bytes();
    let helper_like = args.len() >= 3
        && !bytes.starts_with(b"-")
        && (bytes.contains(&b'/') || Path::new(first).is_dir());
    // Building the command tree costs start-up time: only when it may be the form.
    if helper_like
        && first != "help"
        && !Cli::command()
            .get_subcommands()
            .any(|c| c.get_name() == first)
    {
        args.insert(1, "mount".into());
    }
    args
}

/// The completion script of `shell` for the program named `name`.
fn completions(shell: clap_complete::Shell, name: &str) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), name, &mut out);
    let mut script = String::from_utf8_lossy(&out).into_owned();
    if shell == clap_complete::Shell::Bash && name.contains('-') {
        // clap_complete 4.6 spells a subcommand's state two ways when the
        // name has a hyphen (clap-rs/clap#6421): the loop that finds the
        // subcommand writes `crit__fs__subcmd__decode`, its case arm
        // `crit__subcmd__fs__subcmd__decode`, so no option of a subcommand
        // would complete. The arms are given the loop's spelling.
        let arm = format!("{}__subcmd__", name.replace('-', "__subcmd__"));
        let state = format!("{}__subcmd__", name.replace('-', "__"));
        script = script.replace(&arm, &state);
    }
    script
}

/// `crit-fs man [DIR]`: every page into DIR (their paths printed), or crit-fs(1) to stdout.
fn man(dir: Option<&Path>) -> Result<()> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    let render = |cmd: &clap::Command| -> Result<Vec<u8>> {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .manual("crit-fs manual")
            .source(format!("crit-fs {}", env!("CARGO_PKG_VERSION")))
            .render(&mut page)?;
        Ok(page)
    };
    let Some(dir) = dir else {
        return write_stdout(&render(&top)?);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::from(e).in_file(dir.display()))?;
    let mut written = Vec::new();
    let mut todo = vec![top];
    while let Some(cmd) = todo.pop() {
        let name = format!("{}.1", cmd.get_display_name().unwrap_or(cmd.get_name()));
        let path = dir.join(&name);
        crate::atomic::replace_file(&path, &render(&cmd)?)
            .map_err(|e| Error::from(e).in_file(path.display()))?;
        written.push(format!("{}\n", path.display()));
        todo.extend(cmd.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    }
    written.sort();
    write_stdout(written.concat().as_bytes())
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(&e.kind, crate::error::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
}

/// The whole input: a large file mapped (see [`crate::mapped`]), also when
/// it is standard input; anything else read.
fn read_input(input: &Option<PathBuf>) -> Result<(Input, String)> {
    match input {
        Some(p) => {
            let name = p.display().to_string();
            let label = format!("{}: {name}", program());
            let data = mapped::open(p, &label).map_err(|e| Error::from(e).in_file(&name))?;
            Ok((data, name))
        }
        None => {
            if let Some(m) = mapped::map_stdin(&format!("{}: <stdin>", program())) {
                return Ok((Input::Mapped(m), "<stdin>".into()));
            }
            let mut data = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut data)
                .map_err(|e| Error::from(e).in_file("<stdin>"))?;
            Ok((Input::Read(data), "<stdin>".into()))
        }
    }
}

/// The name errors start with: how the program was invoked (crit or crit-fs).
fn program() -> &'static str {
    PROGRAM.get().map_or("crit-fs", |s| s.as_str())
}

static PROGRAM: OnceLock<String> = OnceLock::new();

/// Standard output, buffered but not by lines: std's line buffering searches
/// every piece written for its last newline (3 % of the instructions of a
/// 5,000-fd decode). Falls back to std's stdout when fd 1 is closed.
fn stdout_writer() -> Box<dyn Write> {
    use std::os::fd::AsFd;
    match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(io::BufWriter::with_capacity(
            64 << 10,
            std::fs::File::from(fd),
        )),
        Err(_) => Box::new(io::stdout().lock()),
    }
}

fn write_stdout(data: &[u8]) -> Result<()> {
    let mut out = stdout_writer();
    out.write_all(data)?;
    out.flush()?;
    Ok(())
}

fn write_output(output: &Option<PathBuf>, data: &[u8], newline_on_stdout: bool) -> Result<()> {
    match output {
        Some(p) => {
            crate::atomic::replace_file(p, data).map_err(|e| Error::from(e).in_file(p.display()))
        }
        None if newline_on_stdout => {
            let mut out = stdout_writer();
            out.write_all(data)?;
            out.write_all(b"\n")?;
            out.flush()?;
            Ok(())
        }
        None => write_stdout(data),
    }
}

/// Streams the JSON out as it is rendered. An image error names the input;
/// with `-o` the output file is replaced only once the whole text is written.
fn decode(input: &Option<PathBuf>, output: &Option<PathBuf>, opts: Options) -> Result<()> {
    let (data, name) = read_input(input)?;
    let render = |sink: &mut dyn Write| -> Result<()> {
        codec::decode_to_writer(&data, opts, sink).map_err(|e| match e.kind {
            crate::error::ErrorKind::Image(_) => e.in_file(&name),
            _ => e,
        })
    };
    match output {
        Some(p) => {
            crate::atomic::replace_file_with(p, |f| render(f)).map_err(|e| e.in_file(p.display()))
        }
        None => {
            let mut out = stdout_writer();
            render(&mut out)?;
            out.write_all(b"\n")?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Between regular files the image is encoded in pieces, with little
/// memory (a large input mapped, a small one read); from stdin or into a
/// device or FIFO, the text is read whole.
fn encode(input: &Option<PathBuf>, output: &Option<PathBuf>) -> Result<()> {
    let regular = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file());
    if let (Some(i), Some(o)) = (input, output)
        && regular(i)
        && (regular(o) || !o.exists())
    {
        let name = i.display().to_string();
        let in_input = |e: io::Error| Error::from(e).in_file(&name);
        let mut f = std::fs::File::open(i).map_err(in_input)?;
        let label = format!("{}: {name}", program());
        let encode_to = |out: &mut std::fs::File| match mapped::map(&f, &label, Pages::AsRead)
            .map_err(in_input)?
        {
            Some(text) => codec::encode_mapped_to_file(&text, &name, out),
            None => codec::encode_file(&mut f, &name, out),
        };
        return crate::atomic::replace_file_with(o, encode_to).map_err(|e| e.in_file(o.display()));
    }
    let (data, name) = read_input(input)?;
    let img = codec::encode_from_json(&data).map_err(|e| e.in_file(&name))?;
    write_output(output, &img, false)
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Decode {
            pretty,
            input,
            output,
        } => decode(
            &input,
            &output,
            Options {
                pretty,
                no_payload: false,
            },
        ),
        Command::Show { input, nopl } => decode(
            &Some(input),
            &None,
            Options {
                pretty: true,
                no_payload: nopl,
            },
        ),
        Command::Encode { input, output } => encode(&input, &output),
        Command::Info { input } => {
            let (data, name) = read_input(&Some(input))?;
            let json = codec::info_json(&data).map_err(|e| e.in_file(&name))?;
            write_output(&None, &json, true)
        }
        Command::X {
            dir,
            what,
            json,
            cmdline,
        } => {
            let src = crate::archive::open_dump(&dir)?;
            let mut out = stdout_writer();
            crate::explore::run_with(src.dir(), &what, json, cmdline, &mut out)
                .map_err(|e| src.name_error(e))?;
            out.flush()?;
            Ok(())
        }
        Command::Mem {
            dir,
            pid,
            addr,
            len,
            output,
            search,
            hex,
            regex,
            context,
            count,
        } => {
            use crate::memcmd::{MemArgs, Pattern};
            use std::os::unix::ffi::OsStrExt;
            let pattern = match (search, hex, regex) {
                (Some(t), _, _) => Some(Pattern::Bytes(t.as_bytes().to_vec())),
                (_, Some(h), _) => Some(Pattern::from_hex(&h).map_err(Error::other)?),
                (_, _, Some(r)) => Some(Pattern::from_regex(&r).map_err(Error::other)?),
                _ => None,
            };
            if matches!(&pattern, Some(Pattern::Bytes(b)) if b.is_empty()) {
                return Err(Error::other("--search needs some text"));
            }
            if pattern.is_some() && output.is_some() {
                return Err(Error::other(
                    "-o writes raw bytes; it does not go with a search",
                ));
            }
            let src = crate::archive::open_dump(&dir)?;
            let args = MemArgs {
                dir: src.dir().to_path_buf(),
                pid,
                addr,
                len,
                output,
                pattern,
                context,
                count,
            };
            let mut out = stdout_writer();
            crate::memcmd::run(&args, &mut out).map_err(|e| src.name_error(e))?;
            out.flush()?;
            Ok(())
        }
        Command::Check { dir, json, host } => {
            let src = crate::archive::open_dump(&dir)?;
            let mut out = stdout_writer();
            let clean = if host {
                crate::check::run_host(src.dir(), json, &mut out)
            } else {
                crate::check::run(src.dir(), json, &mut out)
            }
            .map_err(|e| src.name_error(e))?;
            out.flush()?;
            if clean {
                Ok(())
            } else {
                Err(Error::other("the dump has errors"))
            }
        }
        Command::Inspect {
            dump,
            json,
            stats,
            env,
        } => {
            let src = crate::archive::open_dump(&dump)?;
            let v = crate::inspect::inspect(src.dir(), src.top(), stats, env)
                .map_err(|e| src.name_error(e).in_file(dump.display()))?;
            let text = if json {
                let mut t =
                    serde_json::to_string_pretty(&v).map_err(|e| Error::other(e.to_string()))?;
                t.push('\n');
                t
            } else {
                crate::inspect::text(&v, &dump.display().to_string())
            };
            write_stdout(text.as_bytes())
        }
        Command::Coredump { dir, pids, out } => {
            let src = crate::archive::open_dump(&dir)?;
            coredump(src.dir(), &pids, out.as_deref().unwrap_or(Path::new(".")))
                .map_err(|e| src.name_error(e))
        }
        Command::Mount(args) => crate::mount::mount(args),
        Command::Umount { mountpoint } => crate::mount::umount(&mountpoint),
        Command::Man { dir } => man(dir.as_deref()),
        Command::Completions { .. } => unreachable!("handled in main"),
    }
}

/// `coredump`: core.PID for each process asked for (default: every process
/// with memory), written safely; zombies and unreadable memory are named on
/// stderr. Fails if any process asked for got no core.
fn coredump(dir: &Path, pids: &[u64], out_dir: &Path) -> Result<()> {
    use crate::coredump::{self, CoreFile};
    let dump = crate::explore::dump::Dump::new(dir);
    let procs = coredump::processes(&dump)?;
    let chosen: Vec<(u64, bool)> = if pids.is_empty() {
        procs
    } else {
        pids.iter()
            .map(|p| (*p, procs.iter().any(|(q, zombie)| q == p && *zombie)))
            .collect()
    };
    let prog = program();
    let mut failed = 0;
    for (pid, zombie) in chosen {
        if zombie {
            eprintln!("{prog}: process {pid} {}", coredump::ZOMBIE);
            if !pids.is_empty() {
                failed += 1;
            }
            continue;
        }
        let result = coredump::open_memory(dir, pid)
            .and_then(|mem| CoreFile::new(&dump, pid, mem))
            .and_then(|core| {
                let target = out_dir.join(format!("core.{pid}"));
                crate::atomic::replace_file_with(&target, |f| core.write_to_file(f))
                    .map_err(|e| Error::from(e).in_file(target.display()))?;
                for p in core.problems() {
                    eprintln!("{prog}: core.{pid}: {p}");
                }
                Ok(())
            });
        if let Err(e) = result {
            eprintln!("{prog}: process {pid}: {e}");
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(Error::other(format!("{failed} process(es) got no core")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
