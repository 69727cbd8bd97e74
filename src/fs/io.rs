//! Open files: open, create, read, write, flush, fsync, release; a view
//! written is saved when its writer flushes or closes it.

use super::*;

impl CritFs {
    pub(super) fn new_handle(&self, h: Handle) -> u64 {
        let mut st = lock(&self.state);
        let fh = st.next_fh;
        st.next_fh += 1;
        st.handles.insert(fh, Arc::new(Mutex::new(h)));
        fh
    }

    pub(super) fn handle(&self, fh: u64) -> FsResult<Arc<Mutex<Handle>>> {
        lock(&self.state)
            .handles
            .get(&fh)
            .cloned()
            .ok_or_else(|| fs_err!(libc::EBADF, "no open file {fh}"))
    }

    pub(super) fn check_writable(&self) -> FsResult<()> {
        if self.cfg.read_only {
            return Err(fs_err!(libc::EROFS, "the mount is read-only (-o ro)"));
        }
        Ok(())
    }

    /// EROFS for a path under one of `read_only_under`, even on a read-write mount.
    pub(super) fn check_writable_at(&self, rel: &Path) -> FsResult<()> {
        self.check_writable()?;
        if let Some(ro) = self.cfg.read_only_under.iter().find(|p| rel.starts_with(p)) {
            return Err(fs_err!(
                libc::EROFS,
                "{} is read-only (everything under {})",
                rel.display(),
                ro.display()
            ));
        }
        Ok(())
    }

    /// [`Self::check_writable_at`] for what inode `ino` shows.
    pub(super) fn check_writable_ino(&self, ino: u64) -> FsResult<()> {
        match self.node(ino)? {
            Node::Real { rel } | Node::Dir { rel } | Node::View { image: rel } => {
                self.check_writable_at(&rel)
            }
            _ => self.check_writable(),
        }
    }

    /// OPEN. `flags` are open(2)'s flags (O_TRUNC included).
    pub fn open(&self, ino: u64, flags: i32, caller: Caller) -> FsResult<Opened> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY;
        let trunc = write && flags & libc::O_TRUNC != 0;
        if write {
            self.check_writable_ino(ino)?;
        }
        match self.node(ino)? {
            Node::Dir { .. } | Node::HelpDir => Err(fs_err!(libc::EISDIR, "is a directory")),
            Node::Real { rel } => {
                let path = self.path(&rel);
                let mut o = OpenOptions::new();
                o.read(flags & libc::O_ACCMODE != libc::O_WRONLY)
                    .write(write)
                    .truncate(trunc)
                    .custom_flags(flags & (libc::O_APPEND | libc::O_NOFOLLOW));
                let file = o.open(&path).map_err(|e| FsError::io(&e, rel.display()))?;
                if trunc {
                    self.changed_real(&rel);
                }
                let fh = self.new_handle(Handle::Real {
                    file,
                    rel,
                    wrote: trunc,
                });
                Ok(Opened {
                    fh,
                    direct_io: false,
                })
            }
            Node::View { image } => {
                let meta = self.image_meta(&image)?;
                if write {
                    if !may(caller, meta.uid(), meta.gid(), meta.mode(), 0o2) {
                        return Err(fs_err!(
                            libc::EACCES,
                            "{} is not writable by uid {}",
                            image.display(),
                            caller.uid
                        ));
                    }
                    let (buf, state) = if trunc {
                        (Vec::new(), WriteState::Dirty)
                    } else {
                        let body = self
                            .render_view(&image)
                            .map_err(|m| fs_err!(libc::EIO, "{m}"))?;
                        (body.to_vec(), WriteState::Clean)
                    };
                    let fh = self.new_handle(Handle::ViewWrite { image, buf, state });
                    Ok(Opened {
                        fh,
                        direct_io: true,
                    })
                } else {
                    let body = self.render_view(&image).map_err(|m| {
                        log::warn!("{m}");
                        fs_err!(libc::EIO, "{m}")
                    })?;
                    let fh = self.new_handle(Handle::Snapshot { body });
                    // Direct I/O: each open reads its own snapshot, whatever
                    // other handles left in the page cache.
                    Ok(Opened {
                        fh,
                        direct_io: true,
                    })
                }
            }
            Node::ViewErr { image } => {
                if write {
                    return Err(fs_err!(
                        libc::EACCES,
                        "{}.err is read-only",
                        image.display()
                    ));
                }
                let body = lock(&self.state)
                    .errors
                    .get(&image)
                    .map(|e| e.text.clone())
                    .ok_or_else(|| fs_err!(libc::ENOENT, "no rejected save"))?;
                Ok(Opened {
                    fh: self.new_handle(Handle::Snapshot { body }),
                    direct_io: false,
                })
            }
            Node::Report { what } => {
                if write {
                    return Err(fs_err!(libc::EACCES, "{what}.txt is read-only"));
                }
                // The host may change while the dump does not: host-check
                // is run again at each open, and read past its cached size.
                let host = what == "host-check";
                let (body, _) = self.report_cached(what, !host);
                Ok(Opened {
                    fh: self.new_handle(Handle::Snapshot { body }),
                    direct_io: host,
                })
            }
            Node::Help => {
                if write {
                    return Err(fs_err!(libc::EACCES, "{HELP_DIR}/{HELP_FILE} is read-only"));
                }
                let body = Arc::new(self.help_text().into_bytes());
                Ok(Opened {
                    fh: self.new_handle(Handle::Snapshot { body }),
                    direct_io: false,
                })
            }
            Node::Scratch => {
                let file = self.scratch_file(ino)?;
                if trunc {
                    let mut f = lock(&file);
                    f.data.clear();
                    f.mtime = SystemTime::now();
                }
                Ok(Opened {
                    fh: self.new_handle(Handle::Scratch { file }),
                    direct_io: false,
                })
            }
            node @ (Node::ProcRoot | Node::ProcPid { .. } | Node::ProcEntry { .. }) => {
                self.proc_open(&node, write)
            }
        }
    }

    /// CREATE of a name that does not exist: a scratch file in memory (or, for
    /// the name of a view whose image exists, that view opened for writing).
    pub fn create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: Caller,
    ) -> FsResult<(Attr, Opened)> {
        self.check_writable_ino(parent)?;
        self.refuse_in_help_dir(parent)?;
        if Self::is_proc_node(&self.node(parent)?) {
            return Err(fs_err!(
                libc::EACCES,
                "{name:?}: no files can be created in the proc tree"
            ));
        }
        match self.resolve(parent, name) {
            Ok(Node::View { .. }) | Ok(Node::Scratch) if flags & libc::O_EXCL == 0 => {
                let attr = self.lookup(parent, name)?;
                let opened = self.open(attr.ino, flags | libc::O_WRONLY, caller)?;
                return Ok((self.getattr(attr.ino, Some(opened.fh))?, opened));
            }
            Ok(_) => return Err(fs_err!(libc::EEXIST, "{name:?} exists")),
            Err(e) if e.errno == libc::ENOENT => {}
            Err(e) => return Err(e),
        }
        if let Some(image) = self.hidden_view(parent, name) {
            lock(&self.state).hidden.remove(&image);
            let attr = self.lookup(parent, name)?;
            let opened = self.open(attr.ino, flags | libc::O_WRONLY | libc::O_TRUNC, caller)?;
            return Ok((self.getattr(attr.ino, Some(opened.fh))?, opened));
        }
        let now = SystemTime::now();
        let file = Arc::new(Mutex::new(ScratchFile {
            data: Vec::new(),
            mode: mode & 0o7777,
            uid: caller.uid,
            gid: caller.gid,
            mtime: now,
            ctime: now,
        }));
        let ino = {
            let mut st = lock(&self.state);
            let ino = st.next_ino;
            st.next_ino += 1;
            st.nodes.insert(ino, Node::Scratch);
            st.names.insert((parent, name.to_os_string()), ino);
            st.scratch.insert(ino, file.clone());
            ino
        };
        log::debug!("created scratch file {name:?} (in memory, not in the dump)");
        let fh = self.new_handle(Handle::Scratch { file });
        Ok((
            self.getattr(ino, None)?,
            Opened {
                fh,
                direct_io: false,
            },
        ))
    }

    /// READ through a handle.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let h = self.handle(fh)?;
        let h = lock(&h);
        let slice = |b: &[u8]| {
            let start = (offset as usize).min(b.len());
            let end = start.saturating_add(size as usize).min(b.len());
            b[start..end].to_vec()
        };
        match &*h {
            Handle::Real { file, rel, .. } => {
                let mut buf = vec![0; size as usize];
                let mut n = 0;
                while n < buf.len() {
                    let r = file
                        .read_at(&mut buf[n..], offset + n as u64)
                        .map_err(|e| FsError::io(&e, rel.display()))?;
                    if r == 0 {
                        break;
                    }
                    n += r;
                }
                buf.truncate(n);
                Ok(buf)
            }
            Handle::Snapshot { body } => Ok(slice(body)),
            Handle::ViewWrite { buf, .. } => Ok(slice(buf)),
            Handle::Scratch { file } => Ok(slice(&lock(file).data)),
            Handle::Mem { pid, mem } => self.mem_read(*pid, mem, offset, size),
            Handle::Core { core } => Ok(self.core_read(core, offset, size)),
            Handle::Dir { .. } => Err(fs_err!(libc::EISDIR, "is a directory")),
        }
    }

    /// WRITE through a handle.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        self.check_writable()?;
        let h = self.handle(fh)?;
        let mem = match &*lock(&h) {
            Handle::Mem { pid, mem } => Some((*pid, mem.clone())),
            _ => None,
        };
        if let Some((pid, mem)) = mem {
            return self.mem_write(pid, &mem, offset, data);
        }
        let in_memory = matches!(
            &*lock(&h),
            Handle::ViewWrite { .. } | Handle::Scratch { .. }
        );
        if in_memory {
            check_memory_size(offset.saturating_add(data.len() as u64))?;
        }
        let mut h = lock(&h);
        let put = |buf: &mut Vec<u8>| {
            let end = offset as usize + data.len();
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[offset as usize..end].copy_from_slice(data);
        };
        match &mut *h {
            Handle::Real { file, rel, wrote } => {
                file.write_all_at(data, offset)
                    .map_err(|e| FsError::io(&e, rel.display()))?;
                *wrote = true;
            }
            Handle::ViewWrite { buf, state, .. } => {
                put(buf);
                *state = WriteState::Dirty;
            }
            Handle::Scratch { file } => {
                let mut f = lock(file);
                put(&mut f.data);
                f.mtime = SystemTime::now();
            }
            Handle::Snapshot { .. } | Handle::Core { .. } => {
                return Err(fs_err!(libc::EBADF, "not open for writing"));
            }
            Handle::Mem { .. } => return Err(fs_err!(libc::EIO, "memory handle changed kind")),
            Handle::Dir { .. } => return Err(fs_err!(libc::EISDIR, "is a directory")),
        }
        Ok(data.len() as u32)
    }

    /// FLUSH (every close(2)): saves a changed view; its error is close's error.
    pub fn flush(&self, fh: u64) -> FsResult<()> {
        self.save(fh)
    }

    /// FSYNC: saves a changed view, or syncs a real file.
    pub fn fsync(&self, fh: u64) -> FsResult<()> {
        let h = self.handle(fh)?;
        if let Handle::Real { file, rel, .. } = &*lock(&h) {
            return file.sync_all().map_err(|e| FsError::io(&e, rel.display()));
        }
        self.save(fh)
    }

    /// RELEASE (last close): saves what flush did not, then forgets the handle.
    /// Its error is only logged: the kernel does not pass it on.
    pub fn release(&self, fh: u64) -> FsResult<()> {
        // A failure already reported by flush/fsync is not reported again.
        let failed = self.handle(fh).is_ok_and(|h| {
            matches!(
                &*lock(&h),
                Handle::ViewWrite {
                    state: WriteState::Failed(_),
                    ..
                }
            )
        });
        let r = if failed { Ok(()) } else { self.save(fh) };
        lock(&self.state).handles.remove(&fh);
        r
    }

    pub fn releasedir(&self, fh: u64) -> FsResult<()> {
        lock(&self.state).handles.remove(&fh);
        Ok(())
    }

    pub(super) fn save(&self, fh: u64) -> FsResult<()> {
        let h = self.handle(fh)?;
        let mut h = lock(&h);
        match &mut *h {
            Handle::ViewWrite { image, buf, state } => match state {
                WriteState::Clean | WriteState::Saved => Ok(()),
                WriteState::Failed(e) => Err(e.clone()),
                WriteState::Dirty => {
                    let image = image.clone();
                    match self.commit(&image, buf) {
                        Ok(()) => {
                            *state = WriteState::Saved;
                            Ok(())
                        }
                        Err(e) => {
                            *state = WriteState::Failed(e.clone());
                            Err(e)
                        }
                    }
                }
            },
            Handle::Real { rel, wrote, .. } => {
                if *wrote {
                    *wrote = false;
                    let rel = rel.clone();
                    drop(h);
                    self.changed_real(&rel);
                }
                Ok(())
            }
            Handle::Mem { pid, mem } => {
                let (pid, mem) = (*pid, mem.clone());
                drop(h);
                self.mem_sync(pid, &mem)
            }
            _ => Ok(()),
        }
    }
}
