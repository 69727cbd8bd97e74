//! Inodes and names: lookup, the directory listing (real files, views of
//! images, explorer reports, scratch files) and what a name resolves to.

use super::*;

impl CritFs {
    pub(super) fn intern(&self, st: &mut State, parent: u64, name: &OsStr, node: Node) -> u64 {
        let key = (parent, name.to_os_string());
        if let Some(&ino) = st.names.get(&key)
            && st.nodes.get(&ino) == Some(&node)
        {
            return ino;
        }
        let ino = st.next_ino;
        st.next_ino += 1;
        st.nodes.insert(ino, node);
        st.names.insert(key, ino);
        ino
    }

    pub(super) fn scratch_at(&self, parent: u64, name: &OsStr) -> Option<u64> {
        let st = lock(&self.state);
        let ino = *st.names.get(&(parent, name.to_os_string()))?;
        st.scratch.contains_key(&ino).then_some(ino)
    }

    /// Whether the regular file `rel` is an image crit-fs can decode (by its magic).
    pub(super) fn is_image(&self, rel: &Path, meta: &Metadata) -> bool {
        if !meta.is_file() {
            return false;
        }
        let key = FileKey::of(meta);
        if let Some((k, yes)) = lock(&self.state).magic.get(rel)
            && *k == key
        {
            return *yes;
        }
        let mut head = [0u8; 8];
        let yes = File::open(self.path(rel))
            .and_then(|mut f| {
                let mut n = 0;
                while n < head.len() {
                    let r = f.read(&mut head[n..])?;
                    if r == 0 {
                        break;
                    }
                    n += r;
                }
                Ok(n)
            })
            .map(|n| crate::image::read_magic(&head[..n]).is_ok())
            .unwrap_or(false);
        lock(&self.state)
            .magic
            .insert(rel.to_path_buf(), (key, yes));
        yes
    }

    /// The image a view name stands for in directory `dir_rel`, if any.
    pub(super) fn image_for_view(&self, dir_rel: &Path, name: &OsStr) -> Option<PathBuf> {
        let stem = name.as_bytes().strip_suffix(b".json")?;
        if stem.is_empty() {
            return None;
        }
        let mut img = stem.to_vec();
        img.extend_from_slice(b".img");
        let mut cands = vec![OsString::from(OsStr::from_bytes(&img))];
        if !stem.ends_with(b".img") {
            cands.push(OsString::from(OsStr::from_bytes(stem)));
        }
        cands.into_iter().find_map(|c| {
            let rel = dir_rel.join(&c);
            // Not followed: a symbolic link gets no view (its target may be outside).
            let meta = fs::symlink_metadata(self.path(&rel)).ok()?;
            self.is_image(&rel, &meta).then_some(rel)
        })
    }

    /// What `name` in directory `parent` is.
    pub(super) fn resolve(&self, parent: u64, name: &OsStr) -> FsResult<Node> {
        if self.node(parent)? == Node::HelpDir {
            return self.resolve_in_help_dir(name);
        }
        if name.as_bytes().contains(&b'/') || name == "." || name == ".." {
            return Err(fs_err!(libc::EINVAL, "bad name {name:?}"));
        }
        let parent_node = self.node(parent)?;
        if Self::is_proc_node(&parent_node) {
            return self.proc_resolve(&parent_node, name);
        }
        let dir_rel = self.dir_rel(parent)?;
        let rel = dir_rel.join(name);
        if let Ok(meta) = fs::symlink_metadata(self.path(&rel)) {
            return Ok(if meta.is_dir() {
                Node::Dir { rel }
            } else {
                Node::Real { rel }
            });
        }
        if self.scratch_at(parent, name).is_some() {
            return Ok(Node::Scratch);
        }
        if dir_rel == self.cfg.dump_root && name == "proc" && self.proc_shown() {
            return Ok(Node::ProcRoot);
        }
        if let Some((_, what)) = self
            .reports_at(&dir_rel)
            .into_iter()
            .find(|(n, _)| name == n.as_str())
        {
            return Ok(Node::Report { what });
        }
        if parent == ROOT_INO && name == HELP_DIR {
            return Ok(Node::HelpDir);
        }
        if let Some(view) = name.as_bytes().strip_suffix(b".err")
            && let Some(image) = self.image_for_view(&dir_rel, OsStr::from_bytes(view))
            && lock(&self.state).errors.contains_key(&image)
        {
            return Ok(Node::ViewErr { image });
        }
        if let Some(image) = self.image_for_view(&dir_rel, name)
            && !lock(&self.state).hidden.contains(&image)
        {
            return Ok(Node::View { image });
        }
        Err(fs_err!(libc::ENOENT, "no {:?} in the mount", rel))
    }

    /// LOOKUP: the attributes of `name` in directory `parent`.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        let node = self.resolve(parent, name)?;
        let ino = {
            let mut st = lock(&self.state);
            self.intern(&mut st, parent, name, node)
        };
        self.getattr(ino, None)
    }

    /// The entries of directory `ino`, with `.` and `..`.
    pub fn readdir(&self, ino: u64) -> FsResult<Vec<DirEntry>> {
        let node = self.node(ino)?;
        if node == Node::HelpDir {
            return Ok(self.help_dir_entries(ino));
        }
        if Self::is_proc_node(&node) {
            return self.proc_readdir(ino, &node);
        }
        let rel = self.dir_rel(ino)?;
        let dir = self.path(&rel);
        let mut items: Vec<(OsString, Metadata)> = fs::read_dir(&dir)
            .map_err(|e| FsError::io(&e, dir.display()))?
            .flatten()
            .filter_map(|e| Some((e.file_name(), e.metadata().ok()?)))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let real: std::collections::HashSet<OsString> =
            items.iter().map(|(n, _)| n.clone()).collect();
        let mut out: Vec<(OsString, Node, Kind)> = Vec::new();
        for (name, meta) in &items {
            let r = rel.join(name);
            let kind = kind_of(meta);
            if meta.is_dir() {
                out.push((name.clone(), Node::Dir { rel: r }, kind));
                continue;
            }
            out.push((name.clone(), Node::Real { rel: r.clone() }, kind));
            if self.is_image(&r, meta) {
                let v = view_name(name);
                // A real file of that name wins; the view is then not shown.
                if real.contains(&v) || self.image_for_view(&rel, &v).as_deref() != Some(&r) {
                    continue;
                }
                let (has_err, hidden) = {
                    let st = lock(&self.state);
                    (st.errors.contains_key(&r), st.hidden.contains(&r))
                };
                if hidden {
                    continue;
                }
                out.push((v.clone(), Node::View { image: r.clone() }, Kind::File));
                if has_err {
                    let mut e = v.clone();
                    e.push(".err");
                    if !real.contains(&e) {
                        out.push((e, Node::ViewErr { image: r }, Kind::File));
                    }
                }
            }
        }
        if rel == self.cfg.dump_root && !real.contains(OsStr::new("proc")) && self.proc_shown() {
            out.push(("proc".into(), Node::ProcRoot, Kind::Dir));
        }
        for (name, what) in self.reports_at(&rel) {
            if !real.contains(OsStr::new(&name)) {
                out.push((name.into(), Node::Report { what }, Kind::File));
            }
        }
        if ino == ROOT_INO && !real.contains(OsStr::new(HELP_DIR)) {
            out.push((HELP_DIR.into(), Node::HelpDir, Kind::Dir));
        }
        let mut st = lock(&self.state);
        let scratch: Vec<OsString> = st
            .names
            .iter()
            .filter(|((p, n), i)| *p == ino && st.scratch.contains_key(i) && !real.contains(n))
            .map(|((_, n), _)| n.clone())
            .collect();
        for n in scratch {
            out.push((n, Node::Scratch, Kind::File));
        }
        let parent = if ino == ROOT_INO {
            ROOT_INO
        } else {
            let parent_rel = rel.parent().unwrap_or(Path::new(""));
            st.names
                .iter()
                .find(|(_, i)| {
                    st.nodes.get(i)
                        == Some(&Node::Dir {
                            rel: parent_rel.into(),
                        })
                })
                .map(|(_, i)| *i)
                .unwrap_or(ROOT_INO)
        };
        Ok(self.listing(&mut st, ino, parent, out))
    }

    /// The listing of directory `ino`: `.`, `..` (`parent`), then `children`,
    /// each interned under `ino`. A scratch file keeps the inode it was
    /// created with, and is left out if that name is no longer known.
    pub(super) fn listing(
        &self,
        st: &mut State,
        ino: u64,
        parent: u64,
        children: Vec<(OsString, Node, Kind)>,
    ) -> Vec<DirEntry> {
        let mut entries = vec![
            DirEntry {
                ino,
                name: ".".into(),
                kind: Kind::Dir,
            },
            DirEntry {
                ino: parent,
                name: "..".into(),
                kind: Kind::Dir,
            },
        ];
        for (name, node, kind) in children {
            let child = if node == Node::Scratch {
                match st.names.get(&(ino, name.clone())) {
                    Some(&i) => i,
                    None => continue,
                }
            } else {
                self.intern(st, ino, &name, node)
            };
            entries.push(DirEntry {
                ino: child,
                name,
                kind,
            });
        }
        entries
    }

    /// OPENDIR: takes the listing once, so that readdir offsets are stable.
    pub fn opendir(&self, ino: u64) -> FsResult<u64> {
        let entries = self.readdir(ino)?;
        Ok(self.new_handle(Handle::Dir { entries }))
    }

    /// READDIR from an opendir handle: entries from `offset` on.
    pub fn readdir_from(&self, fh: u64, offset: u64) -> FsResult<Vec<DirEntry>> {
        let h = self.handle(fh)?;
        let h = lock(&h);
        match &*h {
            Handle::Dir { entries } => Ok(entries.iter().skip(offset as usize).cloned().collect()),
            _ => Err(fs_err!(libc::ENOTDIR, "handle {fh} is not a directory")),
        }
    }

    /// The image of a view that was unlinked (hidden) at `name`, if any.
    pub(super) fn hidden_view(&self, parent: u64, name: &OsStr) -> Option<PathBuf> {
        let dir_rel = self.dir_rel(parent).ok()?;
        let image = self.image_for_view(&dir_rel, name)?;
        lock(&self.state).hidden.contains(&image).then_some(image)
    }
}
