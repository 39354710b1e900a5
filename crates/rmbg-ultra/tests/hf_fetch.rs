//! Hugging Face downloads and ViTMatte model lookup, against a local HTTP server on 127.0.0.1 that
//! serves the hub's `/{repo}/resolve/main/{file}` layout. No environment variable is set: the
//! endpoint, token and offline flag are passed in an `HfConfig`.

use rmbg_ultra::fs::sha256_bytes;
use rmbg_ultra::models::fetch::huggingface::{download, fetch_into, HfConfig};
use rmbg_ultra::models::locate::{locate_vitmatte, locate_vitmatte_with};
use rmbg_ultra::models::{Family, ModelSpec, ModelStore, Source, Status, Task};
use rmbg_ultra::DetailMethod;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
}

/// Serves `files` (URL path → body) until the test process ends; 404 for anything else. A body
/// starting with `REDIRECT ` answers 302 with the rest as `Location` (the hub redirects large
/// files to a storage host). Returns the endpoint and the requests seen so far.
fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut authorization = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" || line == "\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("authorization") {
                        authorization = Some(v.trim().to_string());
                    }
                }
            }
            log.lock().unwrap().push(Seen { path: path.clone(), authorization });
            let (status, body, extra) = match files.get(&path) {
                Some(b) if b.starts_with(b"REDIRECT ") => {
                    ("302 Found", Vec::new(), format!("Location: {}\r\n", String::from_utf8_lossy(&b[9..])))
                }
                Some(b) => ("200 OK", b.clone(), String::new()),
                None => ("404 Not Found", b"Entry not found".to_vec(), String::new()),
            };
            let head = format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (endpoint, seen)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

const REPO: &str = "test-org/tiny-matting";
const FILE: &str = "onnx/model.onnx";

const UNPINNED: ModelSpec = ModelSpec {
    id: "test-hf-unpinned",
    task: Task::Matting,
    family: Family::VitMatte,
    file_name: "model.onnx",
    size: None,
    sha256: None,
    source: Source::HuggingFace { repo: REPO, file: FILE },
    made_from: None,
    license: "",
    is_default: false,
    description: "test",
};

const WRONG_PIN: ModelSpec =
    ModelSpec { id: "test-hf-wrong-pin", sha256: Some("0000000000000000000000000000000000000000000000000000000000000000"), ..UNPINNED };

const MISSING: ModelSpec =
    ModelSpec { id: "test-hf-missing", source: Source::HuggingFace { repo: REPO, file: "onnx/absent.onnx" }, ..UNPINNED };

fn config(endpoint: &str) -> HfConfig {
    HfConfig { endpoint: endpoint.to_string(), token: Some("hf_test_token".into()), offline: false }
}

#[test]
fn download_streams_the_file_and_records_its_sha256() {
    let body = payload(11 << 20 | 12345); // over ureq's 10 MB default limit for whole-body reads
    let url_path = format!("/{REPO}/resolve/main/{FILE}");
    let (endpoint, seen) = serve(HashMap::from([(url_path.clone(), body.clone())]));
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let mut calls = Vec::new();
    let path = fetch_into(&store, &UNPINNED, &config(&endpoint), &mut |done, total| calls.push((done, total))).unwrap();

    assert_eq!(path, store.path_of(&UNPINNED));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    let want_sha = sha256_bytes(&body);
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["models"][UNPINNED.id]["sha256"], want_sha.as_str(), "{manifest}");
    assert_eq!(manifest["models"][UNPINNED.id]["size"], body.len() as u64);
    match store.verify(&UNPINNED).unwrap() {
        Status::Ok(entry) => assert_eq!(entry.sha256, want_sha),
        other => panic!("{other:?}"),
    }
    // Progress went up to the full size, which the server announced.
    assert_eq!(calls.last(), Some(&(body.len() as u64, body.len() as u64)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
    // The token went to the endpoint; no temporary file is left behind.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, url_path);
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer hf_test_token"));
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("model.onnx")]);

    // A later change of the file on disk is caught by the recorded hash.
    std::fs::write(&path, b"tampered").unwrap();
    assert!(matches!(store.verify_with(&UNPINNED, true).unwrap(), Status::Corrupt { .. }));
}

#[test]
fn redirects_are_followed_without_the_token() {
    let body = payload(100_000);
    let (endpoint, seen) = serve(HashMap::from([
        (format!("/{REPO}/resolve/main/{FILE}"), b"REDIRECT /storage/blob-1?signed=1".to_vec()),
        ("/storage/blob-1?signed=1".to_string(), body.clone()),
    ]));
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let path = fetch_into(&store, &UNPINNED, &config(&endpoint), &mut |_, _| {}).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer hf_test_token"));
    assert_eq!(seen[1].path, "/storage/blob-1?signed=1");
    assert_eq!(seen[1].authorization, None, "the token went to the redirect target");
}

#[test]
fn a_wrong_pinned_checksum_installs_nothing() {
    let (endpoint, _) = serve(HashMap::from([(format!("/{REPO}/resolve/main/{FILE}"), payload(5000))]));
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let err = fetch_into(&store, &WRONG_PIN, &config(&endpoint), &mut |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("sha256") && err.contains("expected 0000") && err.contains("nothing was installed"), "{err}");
    let target = store.path_of(&WRONG_PIN);
    assert!(!target.exists());
    let leftovers = std::fs::read_dir(target.parent().unwrap()).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "a temporary file was left behind");
    assert!(
        !dir.path().join("manifest.json").exists()
            || !std::fs::read_to_string(dir.path().join("manifest.json")).unwrap().contains(WRONG_PIN.id)
    );
}

#[test]
fn a_missing_file_names_repo_and_file() {
    let (endpoint, _) = serve(HashMap::new());
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let err = fetch_into(&store, &MISSING, &config(&endpoint), &mut |_, _| {}).unwrap_err().to_string();
    assert!(err.contains(REPO) && err.contains("onnx/absent.onnx") && err.contains("404"), "{err}");
    assert!(!store.path_of(&MISSING).exists());
}

#[test]
fn offline_mode_refuses_without_a_request() {
    let (endpoint, seen) = serve(HashMap::from([(format!("/{REPO}/resolve/main/{FILE}"), payload(10))]));
    let dir = tempfile::tempdir().unwrap();
    let cfg = HfConfig { offline: true, ..config(&endpoint) };
    let err = download(&cfg, "m", REPO, FILE, &dir.path().join("f"), None, None, &mut |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
    assert!(seen.lock().unwrap().is_empty());
    assert!(!dir.path().join("f").exists());
}

#[test]
fn vitmatte_fetches_the_small_model_when_allowed() {
    let body = payload(70_000);
    let (endpoint, seen) =
        serve(HashMap::from([("/Xenova/vitmatte-small-composition-1k/resolve/main/onnx/model.onnx".to_string(), body.clone())]));
    let dir = tempfile::tempdir().unwrap();
    let comfy = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let cfg = config(&endpoint);
    let mut fetch = |spec: &'static ModelSpec| fetch_into(&store, spec, &cfg, &mut |_, _| {});
    let path = locate_vitmatte_with(&store, DetailMethod::VITMATTE, None, Some(comfy.path()), true, &mut fetch).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Second time it comes from the store, without a request.
    let mut no_fetch = |_: &'static ModelSpec| -> rmbg_ultra::Result<std::path::PathBuf> { panic!("fetched again") };
    let again = locate_vitmatte_with(&store, DetailMethod::VITMATTE, None, Some(comfy.path()), true, &mut no_fetch).unwrap();
    assert_eq!(again, path);
    // allow_fetch = false never downloads.
    let empty = tempfile::tempdir().unwrap();
    let err = locate_vitmatte_with(&ModelStore::new(empty.path()), DetailMethod::VITMATTE_BASE, None, Some(comfy.path()), false, &mut no_fetch)
        .unwrap_err()
        .to_string();
    assert!(err.contains("vitmatte-base") && err.contains("rmbg-ultra models fetch vitmatte-base"), "{err}");
}

#[test]
fn vitmatte_local_finds_nothing_without_touching_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let comfy = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let mut fetched = 0;
    let mut fetch = |_: &'static ModelSpec| -> rmbg_ultra::Result<std::path::PathBuf> {
        fetched += 1;
        Err(rmbg_ultra::Error::Other("network".into()))
    };
    let err = locate_vitmatte_with(&store, DetailMethod::VITMATTE_LOCAL, None, Some(comfy.path()), true, &mut fetch).unwrap_err().to_string();
    assert_eq!(fetched, 0, "VITMatte(local) tried to download");
    let comfy_dir = comfy.path().join("vitmatte");
    let cached = store.path_of(rmbg_ultra::models::spec("vitmatte-small").unwrap());
    for needle in [
        "vitmatte-small",
        &comfy_dir.display().to_string(),
        &cached.display().to_string(),
        "rmbg-ultra models fetch vitmatte-small",
        "scripts/export-vitmatte-onnx.py",
    ] {
        assert!(err.contains(needle), "error lacks {needle:?}: {err}");
    }
    assert!(!err.contains("download Hugging Face") && err.contains("never uses the network"), "{err}");
    eprintln!("{err}");

    // The public entry point does the same (its fetch would go to the real hub: it must not run).
    let err2 = locate_vitmatte(&store, DetailMethod::VITMATTE_LOCAL, None, Some(comfy.path()), true).unwrap_err().to_string();
    assert_eq!(err, err2);
}

#[test]
fn comfyui_folders_are_searched_and_safetensors_get_the_export_command() {
    let dir = tempfile::tempdir().unwrap();
    let comfy = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let mut no_fetch = |_: &'static ModelSpec| -> rmbg_ultra::Result<std::path::PathBuf> { panic!("no fetch expected") };

    let base = comfy.path().join("vitmatte-base-composition-1k");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("config.json"), "{}").unwrap();
    std::fs::write(base.join("model.safetensors"), "weights").unwrap();
    let err = locate_vitmatte_with(&store, DetailMethod::VITMATTE_BASE, None, Some(comfy.path()), true, &mut no_fetch).unwrap_err();
    let rmbg_ultra::Error::ModelNeedsExport { id, folder, .. } = &err else { panic!("not ModelNeedsExport: {err}") };
    assert_eq!((id.as_str(), folder), ("vitmatte-base", &base));
    let err = err.to_string();
    let want = format!("scripts/export-vitmatte-onnx.py {} {}", base.display(), base.join("model.onnx").display());
    assert!(err.contains(&want), "error lacks {want:?}: {err}");

    std::fs::write(base.join("model.onnx"), "onnx").unwrap();
    let found = locate_vitmatte_with(&store, DetailMethod::VITMATTE_BASE, None, Some(comfy.path()), true, &mut no_fetch).unwrap();
    assert_eq!(found, base.join("model.onnx"));

    let small = comfy.path().join("vitmatte").join("onnx");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::write(small.join("model.onnx"), "onnx").unwrap();
    let found = locate_vitmatte_with(&store, DetailMethod::VITMATTE_LOCAL, None, Some(comfy.path()), false, &mut no_fetch).unwrap();
    assert_eq!(found, small.join("model.onnx"));

    // An explicit path wins over everything.
    let explicit = comfy.path().join("mine.onnx");
    std::fs::write(&explicit, "onnx").unwrap();
    let found =
        locate_vitmatte_with(&store, DetailMethod::VITMATTE, Some(explicit.to_str().unwrap()), Some(comfy.path()), true, &mut no_fetch)
            .unwrap();
    assert_eq!(found, explicit);
}
