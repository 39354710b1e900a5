//! Output files, written so that a crash or kill never leaves a half-written one: encode into a
//! temporary file in the target folder, flush it to disk, then rename it into place.

use crate::{Error, Result};
use image::{ExtendedColorType, ImageEncoder};
use std::io::Write;
use std::path::Path;

/// Image formats we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Png,
    WebpLossless,
    Tiff,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::WebpLossless => "webp",
            Format::Tiff => "tiff",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "webp" => Ok(Format::WebpLossless),
            "tif" | "tiff" => Ok(Format::Tiff),
            _ => Err(Error::InvalidParameter { name: "format", value: s.into(), allowed: "png, webp, tiff".into() }),
        }
    }
}

/// Encodes 8-bit pixels (`color`: L8, Rgb8 or Rgba8) into `format`.
pub fn encode(pixels: &[u8], width: u32, height: u32, color: ExtendedColorType, format: Format) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let res = match format {
        Format::Png => image::codecs::png::PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(pixels, width, height, color),
        Format::WebpLossless => image::codecs::webp::WebPEncoder::new_lossless(&mut out).write_image(pixels, width, height, color),
        Format::Tiff => image::codecs::tiff::TiffEncoder::new(std::io::Cursor::new(&mut out)).write_image(pixels, width, height, color),
    };
    res.map_err(|e| Error::Encode { format, reason: e.to_string() })?;
    Ok(out)
}

/// Writes `bytes` to `path` atomically. Without `overwrite`, an existing file is an error and stays.
///
/// On Linux the data goes into an unnamed file (`O_TMPFILE`) that only gets a name once complete,
/// so even SIGKILL leaves nothing behind; elsewhere a hidden `.part` file is renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(target_os = "linux")]
    if let Some(done) = unnamed::write(dir, path, bytes, overwrite) {
        return done.map_err(|e| Error::io(path, e));
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".rmbg-ultra-").suffix(".part");
    // A temporary file is private (0600); the output should get the usual mode (0666 less the umask).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    if overwrite {
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| Error::io(path, e.error))?;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod unnamed {
    use std::ffi::CString;
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// `None` when the filesystem has no `O_TMPFILE` (the caller falls back to a named temp file).
    pub fn write(dir: &Path, path: &Path, bytes: &[u8], overwrite: bool) -> Option<std::io::Result<()>> {
        let cdir = CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: a plain open(2) of a NUL-terminated path; the fd is owned by the File below.
        let fd = unsafe { libc::open(cdir.as_ptr(), libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC, 0o666) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
        Some((|| {
            file.write_all(bytes)?;
            file.sync_all()?;
            let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
            let link = |to: &Path| -> std::io::Result<()> {
                let cto = CString::new(to.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
                // SAFETY: both paths are NUL-terminated; linkat(2) gives the unnamed file a name.
                let rc = unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, cto.as_ptr(), libc::AT_SYMLINK_FOLLOW) };
                if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
            };
            if !overwrite {
                // linkat never replaces an existing file: the no-clobber check and the write are one step.
                return link(path);
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tmp = dir.join(format!(".{name}.{}.{:x}.part", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()));
            link(&tmp)?;
            std::fs::rename(&tmp, path).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trips() {
        let px: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8 * 10).collect();
        let bytes = encode(&px, 2, 3, ExtendedColorType::Rgba8, Format::Png).unwrap();
        let back = image::load_from_memory(&bytes).unwrap().to_rgba8();
        assert_eq!(back.into_raw(), px);
    }

    #[test]
    fn webp_is_lossless() {
        let px: Vec<u8> = (0..5 * 4 * 4).map(|v| (v * 37 % 256) as u8).collect();
        let bytes = encode(&px, 5, 4, ExtendedColorType::Rgba8, Format::WebpLossless).unwrap();
        assert_eq!(image::load_from_memory(&bytes).unwrap().to_rgba8().into_raw(), px);
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
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.png")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert!(mode & 0o044 != 0 || mode == 0o600, "outputs are readable like any new file, got {mode:o}");
            assert_ne!(mode, 0o600, "outputs must not keep the temporary file's private mode");
        }
    }
}
