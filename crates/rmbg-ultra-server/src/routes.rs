//! The routes: `POST /v1/remove` (admission, queue, worker), `GET /v1/models`, `/healthz`,
//! `/metrics`, and the middleware that authenticates and counts every request.
//!
//! Memory is bounded by construction: a `/v1/remove` request must take one of `workers + queue`
//! admission permits *before* its body is read (none left → 503 at once), its body is read into one
//! buffer of at most `max_body_bytes`, its pixels are checked from the header before decoding, and
//! the permit is only given back when the worker is done with the request's buffers. So at most
//! `workers + queue` bodies and `workers` decoded images exist at any time, however many clients
//! connect.

use crate::auth::{self, Token};
use crate::body::{body_kind, linger, read_body, read_multipart, too_large_body, BodyKind};
use crate::config::Config;
use crate::error::{ApiError, ErrorKind};
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::request::{Output, RequestSpec, SpecBuilder};
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rmbg_ultra::decode::DecodeLimits;
use rmbg_ultra::encode::Format;
use rmbg_ultra::job::{self, Backdrop, Outputs, Timings};
use rmbg_ultra::models::{self, Status};
use rmbg_ultra::{DetailMethod, Profile, Remover, RemoverOptions};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};

pub(crate) struct AppState {
    remover: Arc<Remover>,
    pub(crate) fast: FastRemover,
    pub(crate) config: Config,
    admission: Arc<Semaphore>,
    /// Bodies of refused requests being read and thrown away (see `body::linger`).
    drains: Arc<Semaphore>,
    pub(crate) pool: Pool,
    metrics: Arc<Metrics>,
    pub(crate) draining: AtomicBool,
    token: Option<Token>,
}

impl AppState {
    /// Starts the workers.
    pub(crate) fn new(config: Config, remover: Arc<Remover>) -> std::io::Result<AppState> {
        let workers = config.workers.max(1);
        let queue = config.queue;
        let metrics = Arc::new(Metrics::new(workers, queue));
        let pool = Pool::new(workers, workers + queue, metrics.clone())?;
        Ok(AppState {
            fast: FastRemover::new(remover.options()),
            remover,
            admission: Arc::new(Semaphore::new(workers + queue)),
            drains: Arc::new(Semaphore::new(256)),
            token: config.token.as_deref().map(Token::new),
            config,
            pool,
            metrics,
            draining: AtomicBool::new(false),
        })
    }

    fn linger(&self, body: Body) {
        linger(&self.drains, self.config.max_body_bytes, body);
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/remove", post(remove))
        .route("/v1/models", get(list_models))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route: try POST /v1/remove, GET /v1/models, /healthz, /metrics")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed: POST /v1/remove; GET /v1/models, /healthz, /metrics",
            )
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Authentication (all routes but `/healthz`) and per-request metrics.
async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = Metrics::route_label(req.uri().path());
    let admitted = route == "/healthz" || st.token.as_ref().is_none_or(|t| t.admits(req.headers()));
    let resp = if !admitted {
        let body = req.into_body();
        if !HttpBody::is_end_stream(&body) {
            st.linger(body);
        }
        auth::challenge()
    } else {
        next.run(req).await
    };
    st.metrics.record_request(route, resp.status().as_u16());
    if let Some(ErrorKind(kind)) = resp.extensions().get::<ErrorKind>() {
        st.metrics.record_error(kind);
    }
    resp
}

async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let draining = st.draining.load(Ordering::SeqCst);
    let body = serde_json::json!({
        "status": if draining { "draining" } else { "ok" },
        "device": st.remover.device().to_string(),
        "seg_model": st.remover.options().seg_model,
        "fast_model": st.fast.options.as_ref().ok().map(|o| o.seg_model.clone()),
        "workers": st.metrics.workers,
        "queue_capacity": st.metrics.queue_capacity,
        "queue_depth": st.metrics.queue_depth.load(Ordering::Relaxed),
        "workers_busy": st.metrics.workers_busy.load(Ordering::Relaxed),
    });
    let status = if draining { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    json_response(status, body)
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let text = st.metrics.render();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], text).into_response()
}

async fn list_models(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let remover = st.remover.clone();
    // Verifying reads the manifest and may hash a changed file: not on the async threads.
    let body = tokio::task::spawn_blocking(move || {
        let opts = remover.options();
        let loaded_seg = &opts.seg_model;
        let models: Vec<_> = models::MODELS
            .iter()
            .map(|m| {
                let (status, path, reason) = match opts.store.verify(m) {
                    Ok(Status::Ok(e)) => ("installed", Some(e.file.display().to_string()), None),
                    Ok(Status::Missing) => ("missing", None, None),
                    Ok(Status::Corrupt { path, reason }) => ("damaged", Some(path.display().to_string()), Some(reason)),
                    Err(e) => ("unreadable", None, Some(e.to_string())),
                };
                serde_json::json!({
                    "id": m.id,
                    "task": format!("{:?}", m.task).to_lowercase(),
                    "status": status,
                    "loaded": m.id == loaded_seg,
                    "default": m.is_default,
                    "size": m.size,
                    "license": m.license,
                    "description": m.description,
                    "path": path,
                    "problem": reason,
                })
            })
            .collect();
        serde_json::json!({
            "loaded": {
                "segmentation": { "model": loaded_seg, "device": remover.device().to_string() },
            },
            "models": models,
            "methods": DetailMethod::all().map(|m| serde_json::json!({"name": m.name(), "id": m.id(), "in_node": m.in_node()})).collect::<Vec<_>>(),
            "cache": opts.store.root().display().to_string(),
        })
    })
    .await
    .map_err(|e| ApiError::internal(format!("listing models failed: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

async fn remove(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (parts, mut body) = req.into_parts();
    let result = remove_inner(&st, &parts, &mut body, started).await;
    if result.is_ok() {
        // Answered images only: quick refusals would drag the mean (and `Retry-After`) down.
        st.metrics.stage("total").observe(started.elapsed());
    }
    if let Err(e) = &result {
        if e.kind != "timeout" && !HttpBody::is_end_stream(&body) {
            st.linger(body);
        }
    }
    result
}

async fn remove_inner(
    st: &Arc<AppState>,
    parts: &axum::http::request::Parts,
    body: &mut Body,
    started: Instant,
) -> Result<Response, ApiError> {
    // Cheap checks first: parameters in the query, body type, declared size.
    let mut spec = SpecBuilder::new(st.config.default_method, st.config.default_fast);
    if let Some(q) = parts.uri.query() {
        spec.set_query(q)?;
    }
    let kind = body_kind(&parts.headers)?;
    let max_body = st.config.max_body_bytes;
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared {
        if len > max_body as u64 {
            return Err(too_large_body(len, max_body));
        }
    }
    if st.draining.load(Ordering::SeqCst) {
        // A request that reaches us after the shutdown signal (on a kept-alive connection).
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down"));
    }
    let permit = st.admission.clone().try_acquire_owned().map_err(|_| overloaded(st))?;
    let _in_flight = InFlight::new(&st.metrics);
    let deadline = tokio::time::Instant::from_std(started + st.config.timeout);
    let work = async {
        let t = Instant::now();
        let (bytes, name) = match kind {
            BodyKind::Raw => (read_body(body, max_body, declared).await?, "request body".to_string()),
            BodyKind::Multipart(boundary) => read_multipart(body, boundary, max_body, &mut spec).await?,
        };
        st.metrics.stage("read").observe(t.elapsed());
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_image",
                "no image: send it as the request body or as multipart field `file`",
            ));
        }
        let spec = spec.build()?;
        let (tx, rx) = oneshot::channel::<Result<Processed, ApiError>>();
        let state = st.clone();
        let limits = DecodeLimits { max_pixels: st.config.max_pixels };
        let enqueued = Instant::now();
        let job_spec = spec.clone();
        let job = Box::new(move || {
            // The permit, the body and every buffer made from it go away together, here.
            let _permit = permit;
            if tx.is_closed() {
                return; // The client is gone (timeout or disconnect) while this waited.
            }
            let queue = enqueued.elapsed();
            let remover = if job_spec.fast { state.fast.get() } else { Ok(state.remover.clone()) };
            let result = remover.and_then(|remover| {
                let (encoded, timings) = job::run(&remover, bytes, Path::new(&name), &limits, &job_spec.params, &outputs(&job_spec));
                let encoded = encoded.map_err(|e| ApiError::from_lib(&e))?;
                let bytes = encoded.cutout.or(encoded.mask).expect("a request asks for one image");
                Ok(Processed { bytes, queue, timings })
            });
            let _ = tx.send(result);
        });
        if st.pool.try_submit(job).is_err() {
            return Err(overloaded(st));
        }
        let processed = rx.await.map_err(|_| ApiError::internal("the worker failed on this request (see the server log)"))??;
        Ok((spec, processed))
    };
    let (spec, processed) = match tokio::time::timeout_at(deadline, work).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(ApiError::timeout(format!(
                "the request took longer than the server's limit of {:.1} s",
                st.config.timeout.as_secs_f64()
            )))
        }
    };
    // Server-Timing in the order the stages ran: the wait for a worker, the library's, the whole.
    let mut timing = vec![("queue", processed.queue)];
    timing.extend(processed.timings.recorded().map(|(stage, d)| (stage.name(), d)));
    for (stage, d) in &timing {
        st.metrics.stage(stage).observe(*d);
    }
    timing.push(("total", started.elapsed()));
    let timing = timing.iter().map(|(stage, d)| format!("{stage};dur={:.1}", ms(*d))).collect::<Vec<_>>().join(", ");
    let content_type = match spec.format {
        Format::Png => "image/png",
        Format::WebpLossless => "image/webp",
        Format::Tiff => "image/tiff",
    };
    let mut resp = Response::new(Body::from(processed.bytes));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&timing) {
        h.insert("server-timing", v);
    }
    h.insert(
        "x-rmbg-output",
        HeaderValue::from_static(match spec.output {
            Output::Mask => "mask",
            Output::Premultiplied => "premultiplied",
            Output::Cutout => "cutout",
        }),
    );
    Ok(resp)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A processed request: its one image and how long each stage took.
struct Processed {
    bytes: Vec<u8>,
    queue: Duration,
    timings: Timings,
}

/// The one image a request asks for.
fn outputs(spec: &RequestSpec) -> Outputs {
    let cutout = match (spec.output, spec.background) {
        (Output::Mask, _) => None,
        (Output::Cutout, Some(color)) => Some(Backdrop::Color(color)),
        (Output::Cutout, None) => Some(Backdrop::Transparent),
        (Output::Premultiplied, _) => Some(Backdrop::Premultiplied),
    };
    Outputs { format: spec.format, mask: cutout.is_none(), cutout }
}

/// The int8 remover behind `fast=true`, loaded on the first such request (or by
/// [`Server::load_fast`] at start). Never fetched or quantised on a request's path: making the
/// int8 model takes minutes, so a missing one is a 503 that names the command to make it.
pub(crate) struct FastRemover {
    options: Result<RemoverOptions, String>,
    loaded: Mutex<Option<Arc<Remover>>>,
}

impl FastRemover {
    fn new(base: &RemoverOptions) -> Self {
        let options = base.fast(Profile::Quality).map(|o| RemoverOptions { allow_fetch: false, ..o }).map_err(|e| e.to_string());
        FastRemover { options, loaded: Mutex::new(None) }
    }

    /// Concurrent first requests wait for one load rather than each loading the model.
    pub(crate) fn get(&self) -> Result<Arc<Remover>, ApiError> {
        let mut slot = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(remover) = slot.as_ref() {
            return Ok(remover.clone());
        }
        let options = self.options.as_ref().map_err(|e| ApiError::bad_parameter(e.clone()))?;
        let remover = Remover::new(options.clone()).map_err(|e| match e {
            rmbg_ultra::Error::Model { .. } | rmbg_ultra::Error::ModelNotFound { .. } | rmbg_ultra::Error::ModelNeedsExport { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable", e.to_string())
            }
            e => ApiError::from_lib(&e),
        })?;
        let remover = Arc::new(remover);
        *slot = Some(remover.clone());
        Ok(remover)
    }
}

fn overloaded(st: &AppState) -> ApiError {
    // Roughly when a permit frees up: one average request per queued slot, spread over the workers.
    let mean = st.metrics.stage("total").mean().unwrap_or(Duration::from_secs(1)).as_secs_f64();
    let slots = (st.config.queue + st.metrics.workers) as f64 / st.metrics.workers.max(1) as f64;
    let retry = (mean * slots).ceil().clamp(1.0, 120.0) as u64;
    ApiError::overloaded(
        format!("all {} workers are busy and the queue of {} is full; retry later", st.metrics.workers, st.config.queue),
        retry,
    )
}

/// Counts an admitted request while it lives.
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn new(m: &'a Metrics) -> Self {
        m.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
