//! Files written so that a crash, a kill or a failed check never leaves a half-written one, and the
//! sha256 of bytes taken while they are copied. Every output, manifest, model and runtime file of
//! the library is written through [`write_atomic_with`].

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// What went through a copy: its length and sha256 (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub size: u64,
    pub sha256: String,
}

/// Why a copy stopped: the source broke off (a download) or the destination refused the bytes.
#[derive(Debug)]
pub enum CopyError {
    Read { after: u64, source: std::io::Error },
    Write(std::io::Error),
}

/// Copies `from` into `to`, hashing the bytes as they are written, without holding them all;
/// `progress(done)` is called after each block.
pub fn copy_hashing(from: &mut dyn Read, to: &mut dyn Write, progress: &mut dyn FnMut(u64)) -> Result<Hashed, CopyError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(CopyError::Read { after: done, source }),
        };
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
        done += n as u64;
        progress(done);
    }
    Ok(Hashed { size: done, sha256: hex::encode(hasher.finalize()) })
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    match copy_hashing(&mut file, &mut std::io::sink(), &mut |_| {}) {
        Ok(hashed) => Ok(hashed.sha256),
        Err(CopyError::Read { source, .. } | CopyError::Write(source)) => Err(source),
    }
}

/// Writes `bytes` to `path` atomically. Without `overwrite`, an existing file is an error and stays.
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    write_atomic_with(path, overwrite, |file| file.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// The one way the library writes a file: `fill` writes into a temporary file in `path`'s folder,
/// which is flushed to disk and given the name `path` only when `fill` succeeded, so a check that
/// `fill` makes on the bytes (size, sha256) decides whether anything appears at all.
///
/// On Linux the data goes into an unnamed file (`O_TMPFILE`) that only gets a name once complete,
/// so even SIGKILL leaves nothing behind; elsewhere a hidden `.part` file is renamed into place.
pub fn write_atomic_with<T>(path: &Path, overwrite: bool, fill: impl FnOnce(&mut File) -> Result<T>) -> Result<T> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(target_os = "linux")]
    if let Some(mut file) = unnamed::create(dir) {
        let out = fill(&mut file)?;
        file.sync_all().map_err(|e| Error::io(path, e))?;
        unnamed::link(&file, dir, path, overwrite).map_err(|e| Error::io(path, e))?;
        return Ok(out);
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".rmbg-ultra-").suffix(".part");
    // A temporary file is private (0600); the output should get the usual mode (0666 less the umask).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    let out = fill(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    if overwrite {
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| Error::io(path, e.error))?;
    }
    Ok(out)
}

#[cfg(target_os = "linux")]
mod unnamed {
    use std::ffi::CString;
    use std::fs::File;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// An unnamed file in `dir`; `None` when the filesystem has no `O_TMPFILE` (the caller falls
    /// back to a named temporary file).
    pub fn create(dir: &Path) -> Option<File> {
        let cdir = CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: a plain open(2) of a NUL-terminated path; the fd is owned by the File below.
        let fd = unsafe { libc::open(cdir.as_ptr(), libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC, 0o666) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        Some(unsafe { File::from_raw_fd(fd) })
    }

    /// Gives the complete unnamed `file` the name `path`.
    pub fn link(file: &File, dir: &Path, path: &Path, overwrite: bool) -> std::io::Result<()> {
        let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
        let link = |to: &Path| -> std::io::Result<()> {
            let cto = CString::new(to.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
            // SAFETY: both paths are NUL-terminated; linkat(2) gives the unnamed file a name.
            let rc = unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, cto.as_ptr(), libc::AT_SYMLINK_FOLLOW) };
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        };
        if !overwrite {
            // linkat never replaces an existing file: the no-clobber check and the write are one step.
            return link(path);
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let tmp = dir.join(format!(".{name}.{}.{nanos:x}.part", std::process::id()));
        link(&tmp)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        names
    }

    #[test]
    fn copy_hashing_copies_hashes_and_counts() {
        let mut out = Vec::new();
        let mut seen = vec![];
        let h = copy_hashing(&mut &b"abc"[..], &mut out, &mut |done| seen.push(done)).unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(h, Hashed { size: 3, sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into() });
        assert_eq!(seen, [3]);
        assert_eq!(h.sha256, sha256_bytes(b"abc"));
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"abc").unwrap();
        assert_eq!(sha256_file(f.path()).unwrap(), h.sha256);
    }

    #[test]
    fn a_source_that_breaks_off_says_after_how_many_bytes() {
        struct Breaks(usize);
        impl Read for Breaks {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::Error::other("connection reset"));
                }
                let n = self.0.min(buf.len());
                buf[..n].fill(7);
                self.0 -= n;
                Ok(n)
            }
        }
        match copy_hashing(&mut Breaks(10), &mut Vec::new(), &mut |_| {}) {
            Err(CopyError::Read { after: 10, source }) => assert_eq!(source.to_string(), "connection reset"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn write_into_a_missing_folder_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/c.png");
        write_atomic(&p, b"x", false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
    }

    #[test]
    fn atomic_write_keeps_existing_file_without_overwrite_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        write_atomic(&p, b"one", false).unwrap();
        assert!(write_atomic(&p, b"two", false).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"three", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert_eq!(names(dir.path()), vec![std::ffi::OsString::from("a.png")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert!(mode & 0o044 != 0 || mode == 0o600, "outputs are readable like any new file, got {mode:o}");
            assert_ne!(mode, 0o600, "outputs must not keep the temporary file's private mode");
        }
    }

    #[test]
    fn a_failed_fill_leaves_nothing_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.onnx");
        let refuse = |file: &mut File| -> Result<()> {
            file.write_all(b"half a model").unwrap();
            Err(Error::Other("sha256 differs".into()))
        };
        assert!(write_atomic_with(&p, true, refuse).is_err());
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        write_atomic(&p, b"old", true).unwrap();
        assert!(write_atomic_with(&p, true, refuse).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(names(dir.path()), vec![std::ffi::OsString::from("model.onnx")]);
    }

    #[test]
    fn fill_streams_and_hashes_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let h =
            write_atomic_with(&p, true, |file| copy_hashing(&mut &data[..], file, &mut |_| {}).map_err(|e| Error::Other(format!("{e:?}"))))
                .unwrap();
        assert_eq!(h, Hashed { size: data.len() as u64, sha256: sha256_bytes(&data) });
        assert_eq!(std::fs::read(&p).unwrap(), data);
    }
}
