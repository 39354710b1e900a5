//! The parameters of `POST /v1/remove`, from the query string and/or multipart form fields: the
//! library's parameter table under the CLI's option names (`black-point` and `black_point` alike),
//! parsed and checked by the table, plus the service's own output parameters.

use crate::error::ApiError;
use rmbg_ultra::encode::Format;
use rmbg_ultra::foreground::ForegroundMethod;
use rmbg_ultra::params::{self, Param};
use rmbg_ultra::{DetailMethod, Params};
use std::collections::BTreeSet;

/// What the client gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// RGB (the input's, or the estimated foreground) + alpha, straight (RGBA).
    #[default]
    Cutout,
    /// The same, premultiplied by alpha.
    Premultiplied,
    /// The alpha as an 8-bit grey image.
    Mask,
}

/// One request's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub params: Params,
    pub output: Output,
    pub format: Format,
    /// Lay the cutout over this colour (an RGB image comes back).
    pub background: Option<[u8; 3]>,
    /// Run the int8 segmentation model (quality profile only).
    pub fast: bool,
}

/// The service's own parameters: what comes back and in which form.
const OUTPUT_PARAMETERS: [&str; 3] = ["background", "output", "format"];

/// Every accepted parameter name (after `-` → `_`), for the "unknown parameter" message: the
/// table's under the name the CLI gives them (`no_detail` for process_detail), but the device,
/// which is the server's (`serve --device`), then the output parameters.
pub fn known() -> Vec<&'static str> {
    let removal = params::TABLE.into_iter().filter(|p| p.name() != params::DEVICE.name).map(|p| match p {
        Param::Bool(b) => b.off_flag.unwrap_or(b.name),
        other => other.name(),
    });
    removal.chain(OUTPUT_PARAMETERS).collect()
}

/// Collects `name=value` pairs (query first, then form fields) into a spec. Unknown or repeated
/// names and out-of-range values are errors naming the parameter, the value and what is allowed.
#[derive(Debug, Clone)]
pub struct SpecBuilder {
    spec: RequestSpec,
    seen: BTreeSet<&'static str>,
    /// `foreground` as given; otherwise the profile's default, settled in `build`.
    foreground: Option<ForegroundMethod>,
    /// `fast` as given; otherwise the server's default for the quality profile, settled in `build`.
    fast: Option<bool>,
    default_fast: bool,
    /// `method` as given; otherwise the server's `--method`, else the profile's, settled in `build`.
    method: Option<DetailMethod>,
    default_method: Option<DetailMethod>,
}

impl SpecBuilder {
    /// `default_fast`: requests of the quality profile that do not say `fast=` run the int8 model
    /// (`serve --fast`); `profile=node` requests keep the node's model either way.
    /// `default_method`: the method of requests that name none; `None` leaves it to their profile.
    pub fn new(default_method: Option<DetailMethod>, default_fast: bool) -> Self {
        SpecBuilder {
            spec: RequestSpec {
                params: Params::default(),
                output: Output::Cutout,
                format: Format::Png,
                background: None,
                fast: false,
            },
            seen: BTreeSet::new(),
            foreground: None,
            fast: None,
            default_fast,
            method: None,
            default_method,
        }
    }

    pub fn set(&mut self, raw_name: &str, value: &str) -> Result<(), ApiError> {
        let norm = canonical(raw_name);
        let known = known();
        let Some(&name) = known.iter().find(|k| **k == norm) else {
            return Err(ApiError::bad_parameter(format!(
                "unknown parameter {raw_name:?}: known parameters are {} (`-` and `_` are interchangeable; the image goes in the body or in multipart field `file`)",
                known.join(", ")
            )));
        };
        if !self.seen.insert(name) {
            return Err(ApiError::bad_parameter(format!("parameter {name} is given more than once")));
        }
        let value = value.trim();
        let p = &mut self.spec.params;
        let lib = |e: rmbg_ultra::Error| ApiError::from_lib(&e);
        match name {
            n if n == params::METHOD.name => self.method = Some(value.parse().map_err(lib)?),
            n if n == params::ERODE.name => p.detail_erode = params::ERODE.parse(value).map_err(lib)?,
            n if n == params::DILATE.name => p.detail_dilate = params::DILATE.parse(value).map_err(lib)?,
            n if n == params::BLACK_POINT.name => p.black_point = params::BLACK_POINT.parse(value).map_err(lib)?,
            n if n == params::WHITE_POINT.name => p.white_point = params::WHITE_POINT.parse(value).map_err(lib)?,
            n if n == params::MAX_MEGAPIXELS.name => p.max_megapixels = params::MAX_MEGAPIXELS.parse(value).map_err(lib)?,
            n if Some(n) == params::PROCESS_DETAIL.off_flag => p.process_detail = params::PROCESS_DETAIL.parse_off(value).map_err(lib)?,
            n if n == params::FAST.name => self.fast = Some(params::FAST.parse(value).map_err(lib)?),
            n if n == params::PROFILE.name => p.profile = value.parse().map_err(lib)?,
            n if n == params::FOREGROUND.name => self.foreground = Some(value.parse().map_err(lib)?),
            "background" => {
                self.spec.background =
                    Some(rmbg_ultra::compose::parse_color(value).map_err(|e| ApiError::bad_parameter(e.to_string()))?)
            }
            "output" => {
                self.spec.output = match value.to_ascii_lowercase().as_str() {
                    "cutout" | "rgba" => Output::Cutout,
                    "premultiplied" => Output::Premultiplied,
                    "mask" | "alpha" => Output::Mask,
                    _ => {
                        return Err(ApiError::bad_parameter(format!(
                            "invalid output = {value:?}: allowed cutout, premultiplied, mask"
                        )))
                    }
                }
            }
            "format" => {
                self.spec.format =
                    value.parse().map_err(|_| ApiError::bad_parameter(format!("invalid format = {value:?}: allowed png, webp, tiff")))?
            }
            _ => unreachable!("every known() name is handled"),
        }
        Ok(())
    }

    /// Parses an `application/x-www-form-urlencoded` string (a query string).
    pub fn set_query(&mut self, query: &str) -> Result<(), ApiError> {
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k.is_empty() {
                continue;
            }
            self.set(&k, &v)?;
        }
        Ok(())
    }

    pub fn build(mut self) -> Result<RequestSpec, ApiError> {
        let p = &mut self.spec.params;
        p.foreground = self.foreground.unwrap_or(p.profile.default_foreground());
        let quality = p.profile == rmbg_ultra::Profile::Quality;
        self.spec.fast = self.fast.unwrap_or(self.default_fast && quality);
        *p = p.clone().with_detail(self.method.or(self.default_method), self.spec.fast, p.process_detail);
        if self.spec.fast && !quality {
            return Err(ApiError::bad_parameter(
                "fast=true runs the int8 model, which only the quality profile uses: profile=node keeps the node's model, for parity",
            ));
        }
        if self.spec.background.is_some() && self.spec.output != Output::Cutout {
            return Err(ApiError::bad_parameter("background lays the cutout over a colour: it goes with output=cutout only"));
        }
        Ok(self.spec)
    }
}

/// Our name for `name`: `-` as `_`, and the node's own input names work too (`detail_erode`), except
/// `process_detail`, whose value would mean the opposite of the `no_detail` a request gives.
fn canonical(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase().replace('-', "_");
    match params::find(&n) {
        Some(p) if p.node() == Some(n.as_str()) && !matches!(p, Param::Bool(_)) => p.name().to_string(),
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<RequestSpec, ApiError> {
        parse_with(q, false)
    }

    fn parse_with(q: &str, default_fast: bool) -> Result<RequestSpec, ApiError> {
        let mut b = SpecBuilder::new(None, default_fast);
        b.set_query(q)?;
        b.build()
    }

    #[test]
    fn fast_is_the_quality_profiles_and_the_servers_default_leaves_node_alone() {
        assert!(!parse("").unwrap().fast);
        assert!(parse("fast=true").unwrap().fast);
        assert!(parse_with("", true).unwrap().fast);
        assert!(!parse_with("fast=0", true).unwrap().fast);
        let node = parse_with("profile=node", true).unwrap();
        assert!(!node.fast && node.params == Params::node());
        let e = parse("fast&profile=node").unwrap_err();
        assert!(e.detail.contains("profile=node keeps the node's model"), "{}", e.detail);
    }

    #[test]
    fn a_method_comes_from_the_request_then_the_server_then_the_profile() {
        let detail = |q: &str, server: Option<DetailMethod>| {
            let mut b = SpecBuilder::new(server, false);
            b.set_query(q).unwrap();
            let p = b.build().unwrap().params;
            p.process_detail.then_some(p.method)
        };
        let method = |q: &str, server: Option<DetailMethod>| detail(q, server).expect("a method refines");
        assert_eq!(method("", None), DetailMethod::PYMATTING);
        // fast keeps the int8 network's soft mask unless a method is named, by the request or the server.
        assert_eq!(detail("fast=true", None), None);
        assert_eq!(detail("fast=true&method=guided-filter", None), Some(DetailMethod::GUIDED_FILTER));
        assert_eq!(detail("fast=true", Some(DetailMethod::PYMATTING)), Some(DetailMethod::PYMATTING));
        assert_eq!(detail("method=guided-filter&no_detail", None), None);
        assert_eq!(method("profile=node", None), DetailMethod::VITMATTE);
        assert_eq!(method("profile=node", Some(DetailMethod::GUIDED_FILTER)), DetailMethod::GUIDED_FILTER);
        // The order of the parameters does not matter.
        assert_eq!(method("method=guided-filter&profile=node", None), DetailMethod::GUIDED_FILTER);
        assert_eq!(method("profile=node&method=vitmatte-local", Some(DetailMethod::GUIDED_FILTER)), DetailMethod::VITMATTE_LOCAL);
    }

    #[test]
    fn defaults_are_the_nodes_under_the_quality_profile() {
        let s = parse("").unwrap();
        assert_eq!(s.params, Params::default());
        assert_eq!((s.output, s.format, s.background), (Output::Cutout, Format::Png, None));
        let node = parse("profile=node").unwrap();
        assert_eq!(node.params, Params::node());
        let p = parse("profile=node&foreground=blur&output=premultiplied").unwrap();
        assert_eq!((p.params.foreground, p.output), (ForegroundMethod::BlurFusion, Output::Premultiplied));
        assert_eq!(parse("background=%23ff8000").unwrap().background, Some([255, 128, 0]));
    }

    #[test]
    fn cli_names_with_dashes_or_underscores() {
        let s = parse("method=GuidedFilter&erode=3&dilate=4&black-point=0.1&white_point=0.9&no_detail&max-megapixels=3&output=mask&format=webp")
            .unwrap();
        assert_eq!(s.params.method, DetailMethod::GUIDED_FILTER);
        assert_eq!((s.params.detail_erode, s.params.detail_dilate), (3, 4));
        assert_eq!((s.params.black_point, s.params.white_point, s.params.max_megapixels), (0.1, 0.9, 3.0));
        assert!(!s.params.process_detail);
        assert_eq!((s.output, s.format), (Output::Mask, Format::WebpLossless));
        assert!(parse("method=guided-filter&no_detail=false").unwrap().params.process_detail);
        assert_eq!(parse("detail_method=PyMatting").unwrap().params.method, DetailMethod::PYMATTING);
    }

    #[test]
    fn the_known_parameters_are_the_tables_but_the_device_then_the_outputs() {
        let want = ["method", "erode", "dilate", "black_point", "white_point", "no_detail", "max_megapixels", "profile", "foreground", "fast"];
        assert_eq!(known(), [&want[..], &OUTPUT_PARAMETERS[..]].concat());
        assert_eq!((canonical("Detail-Erode"), canonical("detail_method"), canonical("process_detail")), ("erode".into(), "method".into(), "process_detail".into()));
    }

    #[test]
    fn errors_name_parameter_value_and_range() {
        for (q, want) in [
            ("erode=0", "invalid erode = \"0\": allowed 1..=255"),
            ("dilate=x", "invalid dilate = \"x\""),
            ("black_point=0.99", "invalid black_point = \"0.99\": allowed 0.01..=0.98"),
            ("white-point=NaN", "invalid white_point = \"NaN\": allowed 0.02..=0.99"),
            ("max_megapixels=1000", "allowed 1..=999"),
            ("method=Magic", "invalid method = Magic: allowed VITMatte (vitmatte), "),
            ("device=cpu", "unknown parameter \"device\""),
            ("process_detail=true", "unknown parameter \"process_detail\""),
            ("output=both", "allowed cutout, premultiplied, mask"),
            ("profile=best", "invalid profile = best: allowed node, quality"),
            ("foreground=fast", "invalid foreground"),
            ("background=pink", "#rrggbb"),
            ("background=red&output=mask", "output=cutout only"),
            ("format=gif", "allowed png, webp, tiff"),
            ("no_detail=maybe", "invalid no_detail"),
            ("fast=2", "invalid fast"),
            ("colour=red", "unknown parameter \"colour\""),
            ("erode=3&erode=4", "more than once"),
        ] {
            let e = parse(q).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.detail.contains(want), "{q}: {} lacks {want}", e.detail);
        }
    }
}
