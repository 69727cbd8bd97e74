//! What files hold: a view rendered (and cached), an explorer report, a scratch file.

use super::*;

impl CritFs {
    pub(super) fn scratch_file(&self, ino: u64) -> FsResult<Arc<Mutex<ScratchFile>>> {
        lock(&self.state)
            .scratch
            .get(&ino)
            .cloned()
            .ok_or_else(|| fs_err!(libc::ENOENT, "scratch file {ino} is gone"))
    }

    /// The rendered text of view `image` (`decode --pretty` output and a newline),
    /// or why it cannot be rendered.
    pub fn render_view(&self, image: &Path) -> cache::Rendered {
        let path = self.path(image);
        let mut f = File::open(&path).map_err(|e| format!("{}: {e}", image.display()))?;
        let meta = f
            .metadata()
            .map_err(|e| format!("{}: {e}", image.display()))?;
        let key = FileKey::of(&meta);
        if let Some(hit) = lock(&self.state).views.get(image, key) {
            return hit;
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {e}", image.display()))?;
        let opts = crate::codec::Options {
            pretty: !self.cfg.plain,
            no_payload: false,
        };
        let body = crate::codec::decode_to_json(&bytes, opts)
            .map(|mut j| {
                j.push(b'\n');
                Arc::new(j)
            })
            .map_err(|e| e.in_file(image.display()).to_string());
        lock(&self.state).views.insert(image, key, body.clone());
        body
    }

    /// A fingerprint of the dump root's files (and the top's, when that is
    /// another directory), for the reports' cache.
    pub(super) fn dump_fingerprint(&self) -> (u64, SystemTime) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut newest = UNIX_EPOCH;
        let mut dirs = vec![self.dump_root()];
        if !self.cfg.dump_root.as_os_str().is_empty() {
            dirs.push(self.root.clone());
        }
        for dir in dirs {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            let mut items: Vec<_> = rd.flatten().collect();
            items.sort_by_key(|e| e.file_name());
            for e in items {
                e.file_name().hash(&mut h);
                if let Ok(m) = e.metadata() {
                    FileKey::of(&m).hash(&mut h);
                    let t = time_of(m.mtime(), m.mtime_nsec());
                    newest = newest.max(t);
                }
            }
        }
        (h.finish(), newest)
    }

    /// The text of report `what` (an explorer, or `check`) and its mtime. If the
    /// explorer fails, the text is `error: MESSAGE` and a newline.
    pub fn report(&self, what: &'static str) -> (Arc<Vec<u8>>, SystemTime) {
        self.report_cached(what, true)
    }

    /// [`CritFs::report`], computed afresh when `cached` is false:
    /// `host-check` depends on the host as well as on the dump.
    pub fn report_cached(&self, what: &'static str, cached: bool) -> (Arc<Vec<u8>>, SystemTime) {
        let (fp, newest) = self.dump_fingerprint();
        if cached
            && let Some((k, body)) = lock(&self.state).reports.get(what)
            && *k == fp
        {
            return (body.clone(), newest);
        }
        let dump = self.dump_root();
        let text = match what {
            "check" => crate::check::render(&dump, false).map(|(t, _)| t),
            "host-check" => crate::check::render_host(&dump, false).map(|(t, _)| t),
            "container" => Ok(crate::archive::facts::read(&self.root).text()),
            _ => crate::explore::render(&dump, what, false),
        };
        let text = text.unwrap_or_else(|e| format!("error: {e}\n"));
        let body = Arc::new(text.into_bytes());
        lock(&self.state).reports.insert(what, (fp, body.clone()));
        (body, newest)
    }
}
