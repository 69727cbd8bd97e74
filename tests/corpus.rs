//! Every image of the corpus against the reference CRIT's output, in process:
//! decode, decode --pretty, show --nopl and info equal `expected/` byte for
//! byte, and encode of both JSON forms gives the image back byte for byte.
//! Raw data files (pages, tmpfs archives, network dumps) must fail cleanly.

use std::fs;
use std::path::{Path, PathBuf};

use crit_fs::codec::{self, Options};

use crit_fs::image::magic::is_raw_name;
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus")
}

fn sorted_dir(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// (case directory, image path, NAME) of every file in every case.
fn images() -> Vec<(PathBuf, PathBuf, String)> {
    let mut out = Vec::new();
    for case in sorted_dir(&corpus()) {
        if !case.is_dir() {
            continue;
        }
        for f in sorted_dir(&case) {
            let file = f.file_name().unwrap().to_string_lossy().into_owned();
            // descriptors.json is runc's, written beside CRIU's images by container engines.
            if f.is_dir() || file == "README.txt" || file == "descriptors.json" {
                continue;
            }
            let name = file.strip_suffix(".img").unwrap_or(&file).to_string();
            out.push((case.clone(), f, name));
        }
    }
    out
}

fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let ctx = |b: &[u8]| {
        let from = at.saturating_sub(20);
        String::from_utf8_lossy(&b[from..(at + 40).min(b.len())]).into_owned()
    };
    format!(
        "first difference at byte {at} (got {} bytes, want {}): got {:?} want {:?}",
        got.len(),
        want.len(),
        ctx(got),
        ctx(want)
    )
}

#[test]
fn every_corpus_image_matches_the_reference() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut raw = 0;
    for (case, path, name) in images() {
        let label = format!(
            "{}/{}",
            case.file_name().unwrap().to_string_lossy(),
            path.file_name().unwrap().to_string_lossy()
        );
        let bytes = fs::read(&path).unwrap();
        let expected = case.join("expected");
        if !expected.join(format!("{name}.json")).exists() {
            if !is_raw_name(&name) {
                failures.push(format!("{label}: no expected output and not a raw file"));
                continue;
            }
            raw += 1;
            for (what, result) in [
                (
                    "decode",
                    codec::decode_to_json(&bytes, Options::default()).map(|_| ()),
                ),
                ("info", codec::info_json(&bytes).map(|_| ())),
            ] {
                match result {
                    Ok(()) => failures.push(format!("{label}: {what} of raw data succeeded")),
                    Err(e) if e.to_string().contains('\n') => {
                        failures.push(format!("{label}: {what}: error is not one line: {e}"))
                    }
                    Err(_) => {}
                }
            }
            continue;
        }
        checked += 1;
        let plain = Options {
            pretty: false,
            no_payload: false,
        };
        let pretty = Options {
            pretty: true,
            no_payload: false,
        };
        let nopl = Options {
            pretty: true,
            no_payload: true,
        };
        let outputs = [
            ("json", codec::decode_to_json(&bytes, plain)),
            ("pretty.json", codec::decode_to_json(&bytes, pretty)),
            ("nopl.json", codec::decode_to_json(&bytes, nopl)),
            ("info.json", codec::info_json(&bytes)),
        ];
        for (suffix, got) in outputs {
            let want = fs::read(expected.join(format!("{name}.{suffix}"))).unwrap();
            // The reference output was captured from stdout: a final newline.
            let want = want.strip_suffix(b"\n").unwrap_or(&want);
            match got {
                Ok(got) if got == want => {}
                Ok(got) => failures.push(format!(
                    "{label}: {suffix}: {}",
                    first_difference(&got, want)
                )),
                Err(e) => failures.push(format!("{label}: {suffix}: {e}")),
            }
        }
        // Streaming into a sink gives the same bytes as rendering into a Vec.
        for opts in [plain, pretty, nopl] {
            let mut streamed = Vec::new();
            let done = codec::decode_to_writer(&bytes, opts, &mut streamed);
            if done.is_err() || codec::decode_to_json(&bytes, opts).ok() != Some(streamed) {
                failures.push(format!("{label}: streamed decode differs ({opts:?})"));
            }
        }
        for suffix in ["json", "pretty.json"] {
            let text = fs::read(expected.join(format!("{name}.{suffix}"))).unwrap();
            match codec::encode_from_json(&text) {
                Ok(img) if img == bytes => {}
                Ok(img) => failures.push(format!(
                    "{label}: encode of {suffix}: {}",
                    first_difference(&img, &bytes)
                )),
                Err(e) => failures.push(format!("{label}: encode of {suffix}: {e}")),
            }
        }
    }
    assert!(
        checked > 300 && raw > 50,
        "corpus incomplete: {checked} images, {raw} raw files"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches over {checked} images:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
