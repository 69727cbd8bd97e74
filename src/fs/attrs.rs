//! Attributes: getattr, setattr (a size change of a view saves it) and access.

use super::*;

impl CritFs {
    pub(super) fn real_attr(&self, ino: u64, meta: &Metadata) -> Attr {
        Attr {
            ino,
            kind: kind_of(meta),
            size: meta.size(),
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            atime: time_of(meta.atime(), meta.atime_nsec()),
            mtime: time_of(meta.mtime(), meta.mtime_nsec()),
            ctime: time_of(meta.ctime(), meta.ctime_nsec()),
            blocks: None,
        }
    }

    pub(super) fn text_attr(&self, ino: u64, size: u64, mtime: SystemTime, perm: u16) -> Attr {
        let root = fs::metadata(&self.root).ok();
        Attr {
            ino,
            kind: Kind::File,
            size,
            perm,
            nlink: 1,
            uid: root.as_ref().map(|m| m.uid()).unwrap_or(0),
            gid: root.as_ref().map(|m| m.gid()).unwrap_or(0),
            atime: mtime,
            mtime,
            ctime: mtime,
            blocks: None,
        }
    }

    pub(super) fn image_meta(&self, image: &Path) -> FsResult<Metadata> {
        let meta = fs::metadata(self.path(image))
            .map_err(|_| fs_err!(libc::ENOENT, "image {} is gone", image.display()))?;
        if !self.is_image(image, &meta) {
            return Err(fs_err!(
                libc::ENOENT,
                "{} is no longer an image",
                image.display()
            ));
        }
        Ok(meta)
    }

    /// GETATTR. With a handle of a writer of a view, the size of its buffer.
    pub fn getattr(&self, ino: u64, fh: Option<u64>) -> FsResult<Attr> {
        let node = self.node(ino)?;
        match node {
            Node::Dir { rel } | Node::Real { rel } => {
                let meta = fs::symlink_metadata(self.path(&rel))
                    .map_err(|e| FsError::io(&e, rel.display()))?;
                Ok(self.real_attr(ino, &meta))
            }
            Node::View { image } => {
                let meta = self.image_meta(&image)?;
                let mut attr = self.real_attr(ino, &meta);
                attr.perm &= 0o666;
                attr.nlink = 1;
                // Always the size of the saved text, even for a writer (`fh`):
                // the kernel keeps one size per inode, and readers rely on it.
                let _ = fh;
                attr.size = self.view_size(&image, &meta);
                Ok(attr)
            }
            Node::ViewErr { image } => {
                let st = lock(&self.state);
                let e = st.errors.get(&image).ok_or_else(|| {
                    fs_err!(libc::ENOENT, "no rejected save of {}", image.display())
                })?;
                Ok(self.text_attr(ino, e.text.len() as u64, e.time, 0o444))
            }
            Node::Report { what } => {
                let (body, mtime) = self.report(what);
                Ok(self.text_attr(ino, body.len() as u64, mtime, 0o444))
            }
            Node::HelpDir | Node::Help => Ok(self.help_attr(ino, &node)),
            Node::Scratch => {
                let f = self.scratch_file(ino)?;
                let f = lock(&f);
                let mut a =
                    self.text_attr(ino, f.data.len() as u64, f.mtime, (f.mode & 0o7777) as u16);
                a.ctime = f.ctime;
                a.uid = f.uid;
                a.gid = f.gid;
                Ok(a)
            }
            Node::ProcRoot | Node::ProcPid { .. } | Node::ProcEntry { .. } => {
                self.proc_getattr(ino, &node)
            }
        }
    }

    pub(super) fn view_size(&self, image: &Path, meta: &Metadata) -> u64 {
        if let Some(s) = lock(&self.state).views.size(image, FileKey::of(meta)) {
            return s.unwrap_or(0);
        }
        self.render_view(image).map(|b| b.len() as u64).unwrap_or(0)
    }

    /// SETATTR. Size changes a writer's buffer (with a handle) or saves the
    /// truncated text at once (without); other changes of a view are ignored.
    pub fn setattr(&self, ino: u64, fh: Option<u64>, set: &SetAttr) -> FsResult<Attr> {
        let changes = set.size.is_some()
            || set.mode.is_some()
            || set.uid.is_some()
            || set.gid.is_some()
            || set.atime.is_some()
            || set.mtime.is_some();
        if changes {
            self.check_writable_ino(ino)?;
        }
        match self.node(ino)? {
            Node::Real { rel } | Node::Dir { rel } => {
                let path = self.path(&rel);
                let io = |e: std::io::Error| FsError::io(&e, rel.display());
                if let Some(size) = set.size {
                    let via_handle = fh.and_then(|fh| self.handle(fh).ok());
                    match via_handle.as_ref().map(|h| lock(h)) {
                        Some(g) if matches!(&*g, Handle::Real { .. }) => {
                            if let Handle::Real { file, .. } = &*g {
                                file.set_len(size).map_err(io)?;
                            }
                        }
                        _ => OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .and_then(|f| f.set_len(size))
                            .map_err(io)?,
                    }
                    self.changed_real(&rel);
                }
                if let Some(mode) = set.mode {
                    fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                        .map_err(io)?;
                }
                if set.uid.is_some() || set.gid.is_some() {
                    std::os::unix::fs::lchown(&path, set.uid, set.gid).map_err(io)?;
                }
                if set.atime.is_some() || set.mtime.is_some() {
                    let f = File::options()
                        .write(true)
                        .open(&path)
                        .or_else(|_| File::open(&path))
                        .map_err(io)?;
                    let mut t = fs::FileTimes::new();
                    if let Some(a) = set.atime {
                        t = t.set_accessed(a);
                    }
                    if let Some(m) = set.mtime {
                        t = t.set_modified(m);
                    }
                    f.set_times(t).map_err(io)?;
                }
            }
            Node::View { image } => {
                if let Some(size) = set.size {
                    check_memory_size(size)?;
                    let h = fh.and_then(|fh| self.handle(fh).ok());
                    let mut done = false;
                    if let Some(h) = h
                        && let Handle::ViewWrite { buf, state, .. } = &mut *lock(&h)
                    {
                        buf.resize(size as usize, 0);
                        *state = WriteState::Dirty;
                        done = true;
                    }
                    if !done {
                        let mut text = self
                            .render_view(&image)
                            .map_err(|m| fs_err!(libc::EIO, "{m}"))?
                            .to_vec();
                        text.resize(size as usize, 0);
                        self.commit(&image, &text)?;
                    }
                }
            }
            Node::Scratch => {
                let f = self.scratch_file(ino)?;
                let mut f = lock(&f);
                if let Some(size) = set.size {
                    check_memory_size(size)?;
                    f.data.resize(size as usize, 0);
                }
                if let Some(mode) = set.mode {
                    f.mode = mode & 0o7777;
                }
                if let Some(uid) = set.uid {
                    f.uid = uid;
                }
                if let Some(gid) = set.gid {
                    f.gid = gid;
                }
                if let Some(m) = set.mtime {
                    f.mtime = m;
                }
                f.ctime = SystemTime::now();
            }
            Node::Report { .. } | Node::ViewErr { .. } | Node::Help | Node::HelpDir => {
                if set.size.is_some() {
                    return Err(fs_err!(libc::EACCES, "this file is read-only"));
                }
            }
            Node::ProcRoot | Node::ProcPid { .. } | Node::ProcEntry { .. } => {
                if changes {
                    return Err(fs_err!(
                        libc::EPERM,
                        "the proc tree's files keep their size, mode, owner and times"
                    ));
                }
            }
        }
        self.getattr(ino, fh)
    }

    /// ACCESS (only asked without default_permissions).
    pub fn access(&self, ino: u64, mask: i32, caller: Caller) -> FsResult<()> {
        let attr = self.getattr(ino, None)?;
        if mask & libc::W_OK != 0 {
            self.check_writable_ino(ino)?;
            let node = self.node(ino)?;
            let memory = matches!(
                node,
                Node::ProcEntry {
                    entry: crate::procview::Entry::Mem,
                    ..
                }
            );
            if matches!(
                node,
                Node::Report { .. } | Node::ViewErr { .. } | Node::Help | Node::HelpDir
            ) || (Self::is_proc_node(&node) && !memory)
            {
                return Err(fs_err!(libc::EACCES, "read-only file"));
            }
        }
        for (bit, m) in [(libc::R_OK, 4), (libc::W_OK, 2), (libc::X_OK, 1)] {
            if mask & bit != 0 && !may(caller, attr.uid, attr.gid, attr.perm as u32, m) {
                return Err(fs_err!(libc::EACCES, "permission denied"));
            }
        }
        Ok(())
    }
}
