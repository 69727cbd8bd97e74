//! Names changed through the mount: unlink, rename (editors' save dances), readlink.

use super::*;

impl CritFs {
    /// UNLINK: removes a scratch file or dismisses a `.err` file; views and the
    /// dump's own files cannot be removed through the mount (EPERM).
    pub fn unlink(&self, parent: u64, name: &OsStr) -> FsResult<()> {
        self.check_writable()?;
        match self.resolve(parent, name)? {
            Node::Scratch => {
                let mut st = lock(&self.state);
                if let Some(ino) = st.names.remove(&(parent, name.to_os_string())) {
                    st.scratch.remove(&ino);
                    st.nodes.remove(&ino);
                }
                Ok(())
            }
            Node::ViewErr { image } => {
                lock(&self.state).errors.remove(&image);
                Ok(())
            }
            Node::View { image } => {
                log::info!(
                    "{name:?} hidden until created again; {} is untouched",
                    image.display()
                );
                lock(&self.state).hidden.insert(image);
                Ok(())
            }
            Node::Report { .. } => Err(fs_err!(
                libc::EPERM,
                "{name:?} is a report; it cannot be deleted"
            )),
            Node::Real { rel } | Node::Dir { rel } => Err(fs_err!(
                libc::EPERM,
                "{} belongs to the dump; the mount never deletes dump files",
                rel.display()
            )),
            Node::ProcRoot | Node::ProcPid { .. } | Node::ProcEntry { .. } => Err(fs_err!(
                libc::EPERM,
                "{name:?} is part of the proc tree; it cannot be deleted"
            )),
        }
    }

    pub(super) fn scratch_text_of(
        &self,
        node: &Node,
        parent: u64,
        name: &OsStr,
    ) -> FsResult<Vec<u8>> {
        match node {
            Node::Scratch => {
                let ino = self
                    .scratch_at(parent, name)
                    .ok_or_else(|| fs_err!(libc::ENOENT, "{name:?} is gone"))?;
                let f = self.scratch_file(ino)?;
                let data = lock(&f).data.clone();
                Ok(data)
            }
            Node::View { image } => Ok(self
                .render_view(image)
                .map_err(|m| fs_err!(libc::EIO, "{m}"))?
                .to_vec()),
            _ => Err(fs_err!(libc::EPERM, "not a scratch file or view")),
        }
    }

    /// RENAME. scratch → view saves the scratch text to the image (as a close of
    /// the view would); view → new name copies the view's text to a scratch file
    /// and leaves the view; scratch → scratch moves; dump files never move.
    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        noreplace: bool,
    ) -> FsResult<()> {
        self.check_writable()?;
        if Self::is_proc_node(&self.node(parent)?) || Self::is_proc_node(&self.node(newparent)?) {
            return Err(fs_err!(
                libc::EPERM,
                "rename of {name:?} to {newname:?}: the proc tree's names cannot change"
            ));
        }
        let src = self.resolve(parent, name)?;
        let dst = match self.resolve(newparent, newname) {
            Ok(n) => Some(n),
            Err(e) if e.errno == libc::ENOENT => self
                .hidden_view(newparent, newname)
                .map(|image| Node::View { image }),
            Err(e) => return Err(e),
        };
        if noreplace && dst.is_some() {
            return Err(fs_err!(libc::EEXIST, "{newname:?} exists"));
        }
        match (&src, &dst) {
            (Node::Scratch | Node::View { .. }, Some(Node::View { image })) => {
                if matches!(src, Node::View { .. }) {
                    return Err(fs_err!(
                        libc::EPERM,
                        "a view cannot be renamed over another view"
                    ));
                }
                let text = self.scratch_text_of(&src, parent, name)?;
                self.commit(image, &text)?;
                lock(&self.state).hidden.remove(image);
                self.unlink(parent, name)
            }
            (Node::Scratch, Some(Node::Real { rel })) => {
                let text = self.scratch_text_of(&src, parent, name)?;
                crate::atomic::replace_file(&self.path(rel), &text)
                    .map_err(|e| FsError::io(&e, rel.display()))?;
                self.changed_real(rel);
                self.unlink(parent, name)
            }
            (Node::Scratch, None | Some(Node::Scratch)) => {
                let mut st = lock(&self.state);
                let ino = st
                    .names
                    .remove(&(parent, name.to_os_string()))
                    .ok_or_else(|| fs_err!(libc::ENOENT, "{name:?} is gone"))?;
                if let Some(old) = st.names.insert((newparent, newname.to_os_string()), ino) {
                    st.scratch.remove(&old);
                    st.nodes.remove(&old);
                }
                Ok(())
            }
            (Node::View { .. }, None | Some(Node::Scratch)) => {
                let text = self.scratch_text_of(&src, parent, name)?;
                if dst.is_some() {
                    self.unlink(newparent, newname)?;
                }
                let (_, opened) =
                    self.create(newparent, newname, 0o644, libc::O_WRONLY, Caller::ROOT)?;
                self.write(opened.fh, 0, &text)?;
                self.release(opened.fh)
            }
            _ => Err(fs_err!(
                libc::EPERM,
                "rename of {name:?} to {newname:?}: files of the dump, reports and views cannot be moved"
            )),
        }
    }

    /// READLINK of a symbolic link of the dump.
    pub fn readlink(&self, ino: u64) -> FsResult<Vec<u8>> {
        match self.node(ino)? {
            node @ Node::ProcEntry { .. } => self.proc_readlink(&node),
            Node::Real { rel } => fs::read_link(self.path(&rel))
                .map(|p| p.into_os_string().into_vec())
                .map_err(|e| FsError::io(&e, rel.display())),
            _ => Err(fs_err!(libc::EINVAL, "not a symbolic link")),
        }
    }
}
