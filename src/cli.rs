//! The command line: crit's commands (`decode`, `encode`, `show`, `info`, `x`)
//! with crit's flags, plus crit-fs's own (`check`, `mem`, `mount`, `umount`).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};

use crate::codec::{self, Options};
use crate::error::{Error, Result};
use crate::mapped::{self, Input, Pages};

/// Version of CRIT whose output crit-fs reproduces.
pub const CRIT_VERSION: &str = "4.2";

#[derive(Parser, Debug)]
#[command(
    name = "crit-fs",
    about = "CRiu Image Tool, and CRIU checkpoints as a filesystem",
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
    /// Explore an image directory: ps, fds, mems, rss, sk.
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
    /// A process's memory: hexdump of the dumped ranges, a range, raw bytes, search.
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
    /// Validate a checkpoint directory: images present, ids consistent.
    Check {
        dir: PathBuf,
        /// Findings as JSON.
        #[arg(long)]
        json: bool,
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
    /// Mount a checkpoint directory as a filesystem of JSON views.
    Mount(crate::mount::MountArgs),
    /// Unmount a crit-fs mount.
    Umount { mountpoint: PathBuf },
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
            println!(
                "crit-fs {} (crit {CRIT_VERSION} compatible)",
                env!("CARGO_PKG_VERSION")
            );
        }
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!("usage: {invoked_as} {{decode,encode,info,x,show,check,mem,mount,umount}} ...");
        eprintln!("{invoked_as}: error: too few arguments");
        return ExitCode::from(1);
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{invoked_as}: {e}");
            ExitCode::from(1)
        }
    }
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
            let mut out = stdout_writer();
            crate::explore::run_with(&dir, &what, json, cmdline, &mut out)?;
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
            let args = MemArgs {
                dir,
                pid,
                addr,
                len,
                output,
                pattern,
                context,
                count,
            };
            let mut out = stdout_writer();
            crate::memcmd::run(&args, &mut out)?;
            out.flush()?;
            Ok(())
        }
        Command::Check { dir, json } => {
            let mut out = stdout_writer();
            let clean = crate::check::run(&dir, json, &mut out)?;
            out.flush()?;
            if clean {
                Ok(())
            } else {
                Err(Error::other("the dump has errors"))
            }
        }
        Command::Coredump { dir, pids, out } => {
            coredump(&dir, &pids, out.as_deref().unwrap_or(Path::new(".")))
        }
        Command::Mount(args) => crate::mount::mount(args),
        Command::Umount { mountpoint } => crate::mount::umount(&mountpoint),
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
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
