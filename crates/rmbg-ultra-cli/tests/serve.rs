//! SIGTERM while requests are in flight: every one of them is answered 200, new connections are
//! refused, the process exits 0.
//!
//! The server runs in a child process that gets a real signal: the `rmbg-ultra serve` binary (or
//! the one `RMBG_ULTRA_BIN` names).

use rmbg_ultra_test_support::http::{get, metric, png, post_image};
use rmbg_ultra_test_support::tiny_segmentation_model as tiny_model;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    fn start(args: &[&str]) -> ServerProcess {
        let bin = std::env::var("RMBG_ULTRA_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rmbg-ultra").to_string());
        let mut cmd = Command::new(bin);
        cmd.arg("serve").args(args);
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr: SocketAddr = rest.split_whitespace().next().unwrap().parse().unwrap();
                    let _ = tx.send(addr);
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the server did not start:\n{}", log.lock().unwrap())
        });
        ServerProcess { child, addr, log }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                panic!("the server did not exit within {limit:?}:\n{}", self.log.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_and_refuses_new_ones() {
    let model = rmbg_ultra::models::DEFAULT_SEGMENTATION;
    let mut server = ServerProcess::start(&[
        "--port", "0", "--workers", "2", "--queue", "4", "--seg-model", model, "--device", "cpu", "--offline", "--method", "GuidedFilter",
    ]);
    let addr = server.addr;
    let img = png(64, 48);
    const N: usize = 3;
    let replies = std::thread::scope(|s| {
        let clients: Vec<_> = (0..N).map(|_| s.spawn(|| post_image(addr, "?output=mask", &img))).collect();
        // All N admitted (reading, waiting or running): now the signal.
        let t = Instant::now();
        while metric(addr, "rmbg_ultra_in_flight") != Some(N as f64) {
            assert!(t.elapsed() < Duration::from_secs(30), "requests never got in flight:\n{}", server.log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
        server.signal(libc::SIGTERM);
        // New connections are refused from now on (once the signal is handled).
        let t = Instant::now();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Err(_) => break,
                Ok(_) if t.elapsed() > Duration::from_secs(5) => panic!("still accepting connections 5 s after SIGTERM"),
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        clients.into_iter().map(|c| c.join().unwrap()).collect::<Vec<_>>()
    });
    for r in &replies {
        assert_eq!(r.status, 200, "an in-flight request was lost: {}", r.text());
        assert_eq!(r.image().to_luma8().dimensions(), (64, 48));
    }
    let status = server.wait(Duration::from_secs(60));
    let log = server.log.lock().unwrap().clone();
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
}

#[test]
fn ctrl_c_on_an_idle_server_stops_it_at_once() {
    let model = tiny_model();
    let mut server = ServerProcess::start(&["--port", "0", "--seg-model", model.to_str().unwrap(), "--device", "cpu", "--method", "GuidedFilter"]);
    assert_eq!(get(server.addr, "/healthz").status, 200);
    let t = Instant::now();
    server.signal(libc::SIGINT);
    let status = server.wait(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", server.log.lock().unwrap());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
