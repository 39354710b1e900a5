//! A fixed set of worker threads fed by a bounded queue. Threads live as long as the server, so
//! their allocator arenas and ONNX Runtime thread state are reused instead of piling up.

use crate::metrics::Metrics;
use crossbeam_channel::{bounded, Sender, TrySendError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct Pool {
    tx: Mutex<Option<Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
}

impl Pool {
    /// `workers` threads; at most `capacity` jobs wait (a full queue refuses at once).
    pub fn new(workers: usize, capacity: usize, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<Job>(capacity.max(1));
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            let m = metrics.clone();
            threads.push(std::thread::Builder::new().name(format!("rmbg-worker-{i}")).spawn(move || {
                for job in rx.iter() {
                    m.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    m.workers_busy.fetch_add(1, Ordering::Relaxed);
                    // A panic drops the job's reply channel (the request gets a 500); the worker lives on.
                    if catch_unwind(AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a job panicked in worker {i}");
                    }
                    m.workers_busy.fetch_sub(1, Ordering::Relaxed);
                }
            })?);
        }
        Ok(Pool { tx: Mutex::new(Some(tx)), threads: Mutex::new(threads), metrics })
    }

    /// Queues `job`; gives it back when the queue is full or the pool is closed.
    pub fn try_submit(&self, job: Job) -> Result<(), Job> {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else { return Err(job) };
        self.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                Err(job)
            }
        }
    }

    /// Stops taking jobs; the workers finish what is queued and exit. Blocks until they have.
    pub fn close_and_join(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_full_queue_refuses_and_a_panic_does_not_kill_the_worker() {
        let metrics = Arc::new(Metrics::new(1, 1));
        let pool = Pool::new(1, 1, metrics.clone()).unwrap();
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        // Job 1 occupies the worker until released; job 2 waits; job 3 is refused.
        assert!(pool
            .try_submit(Box::new(move || {
                started_tx.send(()).unwrap();
                hold_rx.recv().unwrap();
            }))
            .is_ok());
        started_rx.recv().unwrap();
        assert!(pool.try_submit(Box::new(|| panic!("a bug in one request"))).is_ok());
        assert!(pool.try_submit(Box::new(|| {})).is_err(), "queue of 1 is full");
        assert_eq!(metrics.queue_depth.load(Ordering::Relaxed), 1);
        hold_tx.send(()).unwrap();
        // After the panic the same worker still runs jobs.
        let (done_tx, done_rx) = mpsc::channel();
        let t = std::time::Instant::now();
        loop {
            let tx = done_tx.clone();
            if pool.try_submit(Box::new(move || tx.send(()).unwrap())).is_ok() {
                break;
            }
            assert!(t.elapsed().as_secs() < 10);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        done_rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        pool.close_and_join();
        assert_eq!(metrics.queue_depth.load(Ordering::Relaxed), 0);
        assert_eq!(metrics.workers_busy.load(Ordering::Relaxed), 0);
        assert!(pool.try_submit(Box::new(|| {})).is_err(), "closed");
    }
}
