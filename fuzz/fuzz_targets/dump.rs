//! The explorers (`x ps|fds|mems|rss|sk`) and `check` over a small dump (the
//! corpus's `sleep` case) in which one image is replaced by the input: the
//! first byte picks the image, the rest is its content. Each must give a
//! result or a clean error, never panic.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The dump's files, and a private copy of it to damage.
fn dump() -> &'static (Vec<PathBuf>, PathBuf) {
    static DUMP: OnceLock<(Vec<PathBuf>, PathBuf)> = OnceLock::new();
    DUMP.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/corpus/sleep");
        let work = std::env::temp_dir().join(format!("crit-fs-fuzz-dump-{}", std::process::id()));
        std::fs::create_dir_all(&work).unwrap();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && p.file_name().unwrap() != "README.txt")
            .collect();
        names.sort();
        for p in &names {
            std::fs::copy(p, work.join(p.file_name().unwrap())).unwrap();
        }
        (names, work)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, image)) = data.split_first() else {
        return;
    };
    let (names, work) = dump();
    let original = &names[usize::from(pick) % names.len()];
    let target = work.join(original.file_name().unwrap());
    std::fs::write(&target, image).unwrap();
    for what in crit_fs::explore::EXPLORERS {
        for json in [false, true] {
            let _ = crit_fs::explore::render(work, what, json);
        }
    }
    for json in [false, true] {
        let _ = crit_fs::check::render(work, json);
    }
    std::fs::copy(original, &target).unwrap();
});
