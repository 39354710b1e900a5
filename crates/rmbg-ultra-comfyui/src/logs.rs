//! The library's tracing events, handed to Python's logging between calls: they are raised while
//! the GIL is released, so they wait here until Python asks for them.

use pyo3::prelude::*;
use std::sync::Mutex;

static LOGS: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

struct LogLayer;

struct MessageVisitor(String, Vec<String>);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.1.push(format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        } else {
            self.1.push(format!("{}={value}", field.name()));
        }
    }
}

fn wanted(meta: &tracing::Metadata<'_>) -> bool {
    let ours = meta.target().starts_with("rmbg_ultra");
    let level = *meta.level();
    if ours {
        level <= tracing::Level::INFO
    } else {
        level <= tracing::Level::WARN
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: tracing_subscriber::layer::Context<'_, S>) -> bool {
        wanted(meta)
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !wanted(event.metadata()) {
            return;
        }
        let mut v = MessageVisitor(String::new(), Vec::new());
        event.record(&mut v);
        let mut msg = v.0;
        if !v.1.is_empty() {
            msg = format!("{msg} ({})", v.1.join(", "));
        }
        let level = event.metadata().level().as_str().to_string();
        let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
        if logs.len() < 10_000 {
            logs.push((level, event.metadata().target().to_string(), msg));
        }
    }
}

pub fn install_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(LogLayer);
    // Another extension in the process may have set one already; then its logs are its business.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The library's log records since the last call: `[(level, target, message)]`, levels as
/// tracing names them (ERROR, WARN, INFO).
#[pyfunction]
pub fn drain_logs() -> Vec<(String, String, String)> {
    std::mem::take(&mut *LOGS.lock().unwrap_or_else(|p| p.into_inner()))
}
