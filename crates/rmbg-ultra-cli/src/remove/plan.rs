//! Which files a `remove` command line reads and writes: folders walked, globs expanded, one
//! output path per input (its folder structure kept), and the refusals that protect inputs and
//! outputs (two inputs onto one output, an output onto its own input).

use anyhow::{Context, Result};
use rmbg_ultra::encode::Format;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif"];

/// Where an input comes from or an output goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Place {
    File(PathBuf),
    Std,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::File(p) => write!(f, "{}", p.display()),
            Place::Std => f.write_str("-"),
        }
    }
}

/// One input and where its outputs go (`None`: not written).
#[derive(Debug)]
pub(super) struct Job {
    pub(super) input: Place,
    pub(super) cutout: Option<Place>,
    pub(super) mask: Option<Place>,
}

impl Job {
    pub(super) fn outputs(&self) -> impl Iterator<Item = &Place> {
        self.cutout.iter().chain(self.mask.iter())
    }

    pub(super) fn outputs_exist(&self) -> bool {
        self.outputs().any(|o| matches!(o, Place::File(p) if p.exists()))
    }
}

/// Output naming, from the command line.
pub(super) struct Naming {
    pub(super) format: Format,
    pub(super) cutout: bool,
    pub(super) mask: bool,
}

fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_image(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn has_glob(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.contains(['*', '?', '[']))
}

/// The folder part of a glob pattern before its first wildcard: outputs keep paths relative to it.
fn glob_base(pattern: &str) -> PathBuf {
    let literal: Vec<&str> = pattern.split('/').take_while(|c| !c.contains(['*', '?', '['])).collect();
    PathBuf::from(literal.join("/"))
}

/// Every input as (file, folder its output path is relative to).
fn expand(inputs: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found)?;
            files.extend(found.into_iter().map(|f| (f, input.clone())));
        } else if !input.exists() && has_glob(input) {
            let pattern = input.to_str().unwrap();
            let base = glob_base(pattern);
            let mut found: Vec<PathBuf> = glob::glob(pattern)
                .with_context(|| format!("bad glob pattern {pattern}"))?
                .filter_map(|e| e.ok())
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            anyhow::ensure!(!found.is_empty(), "no image files match {pattern}");
            found.sort();
            files.extend(found.into_iter().map(|f| (f, base.clone())));
        } else {
            // A missing file stays in the batch: it fails on its own, with its name, and the rest goes on.
            let base = input.parent().map(Path::to_path_buf).unwrap_or_default();
            files.push((input.clone(), base));
        }
    }
    Ok(files)
}

/// Maps inputs to outputs: `OUT/<relative folder>/<stem>.<ext>` (+ `<stem>.mask.<ext>`), or, for
/// one input and an OUT with an image extension or `-`, OUT itself.
pub(super) fn plan(inputs: &[PathBuf], output: &Path, naming: &Naming) -> Result<Vec<Job>> {
    let stdin = inputs.iter().any(|p| p.as_os_str() == "-");
    anyhow::ensure!(!stdin || inputs.len() == 1, "- (standard input) must be the only input");
    let single = stdin || (inputs.len() == 1 && inputs[0].is_file());
    let to_stdout = output.as_os_str() == "-";
    if to_stdout {
        anyhow::ensure!(single, "-o - (standard output) takes exactly one input");
        anyhow::ensure!(naming.cutout != naming.mask, "standard output takes one image: drop --save-mask, or use --only-mask");
    }
    let input = if stdin { Place::Std } else { Place::File(inputs[0].clone()) };
    let ext = naming.format.extension();
    if single && (to_stdout || output.extension().is_some_and(|e| is_image(Path::new(&format!("x.{}", e.to_string_lossy()))))) {
        let (cutout, mask) = if to_stdout {
            (naming.cutout.then_some(Place::Std), naming.mask.then_some(Place::Std))
        } else if naming.cutout {
            (Some(Place::File(output.to_path_buf())), naming.mask.then(|| Place::File(output.with_extension(format!("mask.{ext}")))))
        } else {
            (None, Some(Place::File(output.to_path_buf())))
        };
        return Ok(vec![Job { input, cutout, mask }]);
    }
    if stdin {
        let stem = output.join("stdin");
        return Ok(vec![Job {
            input,
            cutout: naming.cutout.then(|| Place::File(stem.with_extension(ext))),
            mask: naming.mask.then(|| Place::File(stem.with_extension(format!("mask.{ext}")))),
        }]);
    }
    let mut jobs = Vec::new();
    let mut seen = HashSet::new();
    for (file, base) in expand(inputs)? {
        let rel = file.strip_prefix(&base).unwrap_or(&file).with_extension("");
        let rel = if rel.is_absolute() { PathBuf::from(rel.file_name().unwrap_or_default()) } else { rel };
        let stem_path = output.join(rel);
        // Appended, not `with_extension`: a stem with dots of its own ("x1.5-cafe") keeps them.
        let with_suffix = |suffix: String| {
            let mut name = stem_path.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        let cutout = with_suffix(format!(".{ext}"));
        let mask = with_suffix(format!(".mask.{ext}"));
        for out in [&cutout, &mask] {
            anyhow::ensure!(
                seen.insert(out.clone()),
                "{} and another input would both write {}; process them separately",
                file.display(),
                out.display()
            );
            anyhow::ensure!(
                file.canonicalize().ok().is_none() || file.canonicalize().ok() != out.canonicalize().ok(),
                "{} would overwrite its own input; choose another output folder",
                file.display()
            );
        }
        jobs.push(Job {
            input: Place::File(file),
            cutout: naming.cutout.then_some(Place::File(cutout)),
            mask: naming.mask.then_some(Place::File(mask)),
        });
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_naming(mask: bool) -> Naming {
        Naming { format: Format::Png, cutout: true, mask }
    }

    fn file(p: &Option<Place>) -> PathBuf {
        match p {
            Some(Place::File(p)) => p.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stems_with_dots_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["lemur-x1.5-cafe.png", "lemur-x1.2-sky.png"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let out = dir.path().join("out");
        let jobs = plan(&[dir.path().to_path_buf()], &out, &png_naming(true)).unwrap();
        let mut names: Vec<PathBuf> = jobs.iter().map(|j| file(&j.cutout)).collect();
        names.sort();
        assert_eq!(names, vec![out.join("lemur-x1.2-sky.png"), out.join("lemur-x1.5-cafe.png")]);
        assert!(jobs.iter().any(|j| file(&j.mask) == out.join("lemur-x1.5-cafe.mask.png")));
    }

    #[test]
    fn folder_inputs_keep_their_relative_structure() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("in/sub")).unwrap();
        for f in ["in/a.jpg", "in/sub/b.PNG", "in/notes.txt"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let jobs = plan(&[dir.path().join("in")], &dir.path().join("out"), &png_naming(true)).unwrap();
        let outs: Vec<_> = jobs.iter().map(|j| file(&j.cutout).strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(outs, vec![PathBuf::from("out/a.png"), PathBuf::from("out/sub/b.png")]);
        assert!(file(&jobs[0].mask).ends_with("out/a.mask.png"));
    }

    #[test]
    fn globs_keep_paths_below_their_literal_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("in/x")).unwrap();
        for f in ["in/x/a.jpg", "in/x/b.txt", "in/c.jpg"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let pattern = dir.path().join("in/*/*.jpg");
        let jobs = plan(&[pattern], &dir.path().join("out"), &png_naming(false)).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(file(&jobs[0].cutout), dir.path().join("out/x/a.png"));
        assert!(jobs[0].mask.is_none());
    }

    #[test]
    fn single_file_may_name_its_output_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.jpg");
        std::fs::write(&input, b"x").unwrap();
        let jobs = plan(&[input.clone()], &dir.path().join("cut.png"), &png_naming(true)).unwrap();
        assert_eq!(file(&jobs[0].cutout), dir.path().join("cut.png"));
        assert_eq!(file(&jobs[0].mask), dir.path().join("cut.mask.png"));
        let webp = Naming { format: Format::WebpLossless, cutout: false, mask: true };
        let jobs = plan(&[input], &dir.path().join("m.webp"), &webp).unwrap();
        assert!(jobs[0].cutout.is_none());
        assert_eq!(file(&jobs[0].mask), dir.path().join("m.webp"));
    }

    #[test]
    fn standard_streams_take_one_image() {
        let jobs = plan(&[PathBuf::from("-")], Path::new("-"), &png_naming(false)).unwrap();
        assert_eq!(jobs[0].input, Place::Std);
        assert_eq!(jobs[0].cutout, Some(Place::Std));
        assert!(plan(&[PathBuf::from("-")], Path::new("-"), &png_naming(true)).is_err());
        assert!(plan(&[PathBuf::from("-"), PathBuf::from("a.jpg")], Path::new("out"), &png_naming(false)).is_err());
    }

    #[test]
    fn two_inputs_with_one_output_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"x").unwrap();
        std::fs::write(dir.path().join("x/a.jpg"), b"x").unwrap();
        let err = plan(&[dir.path().join("a.jpg"), dir.path().join("x/a.jpg")], &dir.path().join("out"), &png_naming(false)).unwrap_err();
        assert!(err.to_string().contains("would both write"), "{err}");
    }

    #[test]
    fn an_output_onto_its_own_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), b"x").unwrap();
        let err = plan(&[dir.path().join("a.png"), dir.path().join("a.png")], dir.path(), &png_naming(false)).unwrap_err();
        assert!(err.to_string().contains("own input") || err.to_string().contains("both write"), "{err}");
    }
}
