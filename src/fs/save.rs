//! Saving a view: its text checked and encoded, and the image replaced
//! atomically only when that succeeds and changes it.

use super::*;

impl CritFs {
    /// After a file of the dump changed through the mount: drop what depends on it.
    pub(super) fn changed_real(&self, rel: &Path) {
        let (view, reports) = {
            let mut st = lock(&self.state);
            st.views.remove(rel);
            let parent = rel.parent().unwrap_or(Path::new(""));
            let dir_ino = if parent.as_os_str().is_empty() {
                Some(ROOT_INO)
            } else {
                st.nodes
                    .iter()
                    .find(|(_, n)| **n == Node::Dir { rel: parent.into() })
                    .map(|(i, _)| *i)
            };
            let view = dir_ino.and_then(|d| {
                let name = view_name(rel.file_name()?);
                st.names.get(&(d, name)).copied()
            });
            let reports: Vec<u64> = st
                .nodes
                .iter()
                .filter(|(_, n)| matches!(n, Node::Report { .. }))
                .map(|(i, _)| *i)
                .collect();
            (view, reports)
        };
        for ino in view.into_iter().chain(reports) {
            self.invalidate(ino);
        }
    }

    /// Validates `text` as the new content of view `image` and, if it changes
    /// the image, replaces the image atomically. Invalid text never touches it.
    pub fn commit(&self, image: &Path, text: &[u8]) -> FsResult<()> {
        let view = view_name(image.file_name().unwrap_or_default());
        let view = image.with_file_name(view);
        let result = self
            .commit_inner(image, &view, text)
            .map_err(FsError::clipped);
        let mut st = lock(&self.state);
        match &result {
            Ok(()) => {
                st.errors.remove(image);
            }
            Err(e) => {
                log::warn!("save of {} rejected: {}", view.display(), e.message);
                st.errors.insert(
                    image.to_path_buf(),
                    SaveError {
                        text: Arc::new(format!("{}\n", e.message).into_bytes()),
                        time: SystemTime::now(),
                    },
                );
            }
        }
        result
    }

    pub(super) fn commit_inner(&self, image: &Path, view: &Path, text: &[u8]) -> FsResult<()> {
        self.check_writable_at(image)?;
        let _serial = lock(&self.commit_lock);
        let path = self.path(image);
        let old = fs::read(&path).map_err(|e| FsError::io(&e, image.display()))?;
        let meta = fs::metadata(&path).map_err(|e| FsError::io(&e, image.display()))?;
        // The whole reason (`{:#}`), cut once as it is formatted.
        let invalid = |e: crate::Error| FsError {
            errno: libc::EINVAL,
            message: crate::error::clip_fmt(format_args!("{}: {:#}", view.display(), e)),
        };
        let (old_magic, _) = crate::image::read_magic(&old)
            .map_err(|e| fs_err!(libc::EIO, "{}: {e}", image.display()))?;
        let magic_changed = |new: &str| {
            fs_err!(
                libc::EINVAL,
                "{}: the magic changed from {} to {new}; a view keeps its image's magic",
                view.display(),
                old_magic.name
            )
        };
        // The streaming encoder of `crit-fs encode`: memory for one entry, not
        // a tree of the whole text. When it fails, a changed magic is named as
        // such rather than as the schema error it causes.
        let bytes = match crate::codec::encode_from_json(text) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Err(match top_level_magic(text) {
                    Some(m) if m != old_magic.name => magic_changed(&m),
                    _ => invalid(e),
                });
            }
        };
        let (new_magic, _) = crate::image::read_magic(&bytes).map_err(|e| invalid(e.into()))?;
        if new_magic != old_magic {
            return Err(magic_changed(new_magic.name));
        }
        let unchanged = bytes == old || {
            let new = crate::image::Image::decode(&bytes).map_err(|e| invalid(e.into()))?;
            crate::image::Image::decode(&old).ok().as_ref() == Some(&new)
        };
        if unchanged {
            log::debug!("{}: unchanged, image left as it is", view.display());
            return Ok(());
        }
        crate::atomic::replace_file(&path, &bytes).map_err(|e| {
            let what = format!("{}: saving to {}", view.display(), image.display());
            FsError::io(&e, what)
        })?;
        if meta.uid() != 0 || meta.gid() != 0 {
            let _ = std::os::unix::fs::lchown(&path, Some(meta.uid()), Some(meta.gid()));
        }
        log::info!("{}: saved to {}", view.display(), image.display());
        self.changed_real(image);
        Ok(())
    }
}

/// The string value of the top-level `"magic"` key of a JSON text, when the
/// text is JSON with exactly one such key. Cheap: nothing else is kept (other
/// keys are compared in place, other values skipped).
fn top_level_magic(text: &[u8]) -> Option<String> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    use std::fmt;

    struct IsMagic;
    impl<'de> Visitor<'de> for IsMagic {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E>(self, v: &str) -> Result<bool, E> {
            Ok(v == "magic")
        }
    }
    impl<'de> DeserializeSeed<'de> for IsMagic {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }

    struct Top;
    impl<'de> Visitor<'de> for Top {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut magic = None;
            while let Some(is_magic) = map.next_key_seed(IsMagic)? {
                if !is_magic {
                    map.next_value::<IgnoredAny>()?;
                } else if magic.is_some() {
                    return Err(serde::de::Error::custom("duplicate magic"));
                } else {
                    magic = Some(map.next_value::<String>()?);
                }
            }
            Ok(magic)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(text);
    let magic = de.deserialize_map(Top).ok()?;
    de.end().ok()?;
    magic
}
