//! Listening and graceful shutdown: connection limits, header timeouts, and the drain of
//! in-flight requests when the shutdown signal comes.

use crate::config::Config;
use crate::routes::{router, AppState};
use rmbg_ultra::Remover;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

/// Every request allocates a few buffers of 1-32 MB (the 1024² network input, its output,
/// resized images). glibc's default *dynamic* mmap threshold moves up to the size of the last such
/// buffer freed, after which they come from per-thread arenas that keep the memory: RSS then creeps
/// up for hundreds of requests towards workers × peak. A fixed threshold of 1 MiB serves them with
/// mmap and gives them back on free, so RSS returns to the same level after every request.
/// Measured on a 1.5 MP photo with IS-Net: +12 % minor page faults, CPU time per request
/// unchanged within noise (about 1 %), idle RSS after requests 500 MB instead of 760-800 MB.
/// Process-wide, done once.
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only changes allocator tuning; glibc makes it safe to call at any time.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        });
    }
}

/// A bound, not yet serving, server.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
}

impl Server {
    /// Binds `config.addr` (port 0 picks a free port) and starts the workers.
    pub async fn bind(config: Config, remover: Arc<Remover>) -> std::io::Result<Server> {
        return_large_buffers_to_the_os();
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let state = Arc::new(AppState::new(config, remover)?);
        Ok(Server { listener, state })
    }

    /// Loads the int8 model behind `fast=true` now, so that the first such request does not wait
    /// for it (`serve --fast`).
    pub fn load_fast(&self) -> Result<(), String> {
        self.state.fast.get().map(|_| ()).map_err(|e| e.detail)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (for at most the request timeout plus 5 s) and stops the workers.
    ///
    /// At most `max_connections` connections are open at once (more wait in the kernel's
    /// backlog), and a connection that takes longer than `header_timeout` (30 s) to send a
    /// request's headers, idle keep-alive ones included, is closed: neither a flood of
    /// connections nor slow clients grow memory or hold the slots for ever.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let state = self.state.clone();
        let service = hyper_util::service::TowerToHyperService::new(router(state.clone()));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(state.config.header_timeout);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("never closed"),
                _ = &mut shutdown => break,
            };
            let stream = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little rather than spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let conn = graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service.clone()));
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("connection: {e}");
                }
                drop(permit);
            });
        }
        // No new connections from here on; in-flight requests finish, idle connections close.
        drop(self.listener);
        state.draining.store(true, Ordering::SeqCst);
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        let grace = state.config.timeout + Duration::from_secs(5);
        let finished = tokio::select! {
            _ = graceful.shutdown() => true,
            _ = tokio::time::sleep(grace) => { tracing::warn!("in-flight requests still running after {grace:?}; exiting anyway"); false }
        };
        if finished {
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || s.pool.close_and_join()).await;
        }
        Ok(())
    }
}

/// A server running on its own runtime thread (for tests and embedding in synchronous code).
pub struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graceful shutdown: waits for in-flight requests.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| Err(std::io::Error::other("server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Starts a server on a background thread with its own Tokio runtime.
pub fn spawn(config: Config, remover: Arc<Remover>) -> std::io::Result<Running> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let server = rt.block_on(Server::bind(config, remover))?;
    let addr = server.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("rmbg-serve".into()).spawn(move || {
        rt.block_on(server.serve(async move {
            let _ = stopped.await;
        }))
    })?;
    Ok(Running { addr, stop: Some(stop), thread: Some(thread) })
}
