//! The node's inputs, with its defaults and ranges (docs/node-behaviour.md §1), and the profile that
//! says whether they are read exactly as the node reads them.

use crate::foreground::ForegroundMethod;
use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// How the coarse mask's edges are refined (`detail_method`): a handle into refine's registry.
pub use crate::refine::DetailMethod;

/// Which algorithm the parameters drive.
///
/// `Node` is the ComfyUI node bit for bit, quirks included (the coarse mask binarised at 1/255,
/// the input RGB kept in the cutout). `Quality` keeps the network's soft mask, refines only a band
/// around its 0.5 contour and estimates the foreground colour, so that faint background the network
/// had rejected stays transparent and edges carry no old-background colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// Exactly the node's outputs (what the ComfyUI node and saved workflows get).
    Node,
    /// The best cutout we can make: the default of the library, the CLI and the service.
    #[default]
    Quality,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Node, Profile::Quality];

    /// The node keeps the input's colours; `quality` estimates the foreground colour under the
    /// edge with the multi-level method (the better of the two on the ground-truth benchmark).
    pub fn default_foreground(self) -> ForegroundMethod {
        match self {
            Profile::Node => ForegroundMethod::Off,
            Profile::Quality => ForegroundMethod::Ml,
        }
    }

    /// The detail method when none is named and detail is processed. The node's is VITMatte.
    /// `quality` takes the best method that needs no download: closed-form matting in the band beats
    /// GuidedFilter and the soft mask alone on the ground-truth benchmark (BENCHMARKS.md), and
    /// ViTMatte's weights are not on every machine (a first run without them would fail). With
    /// `fast` it is GuidedFilter, the one that costs little next to the int8 network; but `fast`
    /// refines nothing unless a method is named ([`Profile::detail`]).
    pub fn default_method(self, fast: bool) -> DetailMethod {
        match (self, fast) {
            (Profile::Node, _) => DetailMethod::VITMATTE,
            (Profile::Quality, false) => DetailMethod::PYMATTING,
            (Profile::Quality, true) => DetailMethod::GUIDED_FILTER,
        }
    }

    /// What refines the edge: the method a request names, else the profile's; `None` keeps the
    /// network's mask. `fast` (the int8 network) names none: on the ground-truth benchmark the soft
    /// mask alone scores better than GuidedFilter in the quality profile (SAD 112.9 against 116.9,
    /// BENCHMARKS.md "Stop 17") and the closed-form solve would take more time than int8 saves.
    pub fn detail(self, named: Option<DetailMethod>, fast: bool) -> Option<DetailMethod> {
        match (named, self, fast) {
            (Some(method), _, _) => Some(method),
            (None, Profile::Quality, true) => None,
            (None, profile, fast) => Some(profile.default_method(fast)),
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Profile::Node => "node",
            Profile::Quality => "quality",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Profile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Profile::ALL.into_iter().find(|p| p.id().eq_ignore_ascii_case(s.trim())).ok_or_else(|| Error::InvalidParameter {
            name: PROFILE.name,
            value: s.to_string(),
            allowed: profile_ids().join(", "),
        })
    }
}

/// Where the networks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// CUDA when its provider loads, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// CUDA; like the node, falls back to the CPU with a warning unless strict.
    Cuda,
}

impl Device {
    pub const ALL: [Device; 3] = [Device::Auto, Device::Cpu, Device::Cuda];
    /// The node's `device` combo box, in its order (docs/node-behaviour.md §1).
    pub const NODE: [Device; 2] = [Device::Cuda, Device::Cpu];

    pub fn id(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        // `gpu` is accepted as a synonym of cuda, not listed.
        let wanted = if s.eq_ignore_ascii_case("gpu") { "cuda" } else { s };
        Device::ALL.into_iter().find(|d| d.id().eq_ignore_ascii_case(wanted)).ok_or_else(|| Error::InvalidParameter {
            name: DEVICE.name,
            value: s.into(),
            allowed: (DEVICE.choices)().join(", "),
        })
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The node's per-call inputs (everything but the image and the device), the profile, and the
/// foreground colour estimation of the cutout.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub profile: Profile,
    pub method: DetailMethod,
    pub detail_erode: u32,
    pub detail_dilate: u32,
    pub black_point: f64,
    pub white_point: f64,
    pub process_detail: bool,
    pub max_megapixels: f64,
    /// The cutout's RGB: `Off` keeps the input's colours (the node), the others estimate the
    /// foreground colour under the soft edge.
    pub foreground: ForegroundMethod,
}

/// The `quality` profile with the node's defaults for every node input but the detail method.
impl Default for Params {
    fn default() -> Self {
        Params::for_profile(Profile::Quality)
    }
}

impl Params {
    /// The node's defaults under `profile`, with that profile's detail method and foreground estimation.
    pub fn for_profile(profile: Profile) -> Self {
        Params {
            profile,
            foreground: profile.default_foreground(),
            method: profile.default_method(false),
            detail_erode: ERODE.default,
            detail_dilate: DILATE.default,
            black_point: BLACK_POINT.default,
            white_point: WHITE_POINT.default,
            process_detail: PROCESS_DETAIL.default,
            max_megapixels: MAX_MEGAPIXELS.default,
        }
    }

    /// The node exactly, with its defaults.
    pub fn node() -> Self {
        Params::for_profile(Profile::Node)
    }
}

/// Largest image accepted, in pixels (width × height), checked from the file header before decoding:
/// a guard against decompression bombs. The default of every front-end's limit.
pub const MAX_PIXELS: u64 = 100_000_000;

// --- the parameter table ----------------------------------------------------------------------------
//
// One entry per parameter of a removal: the node's inputs (docs/node-behaviour.md §1), in the
// order of its widgets, then ours. The CLI's options, the service's query parameters, the Python
// package's keywords and the ComfyUI node's INPUT_TYPES are all built from it; each kind has one
// parse-and-check function whose error names the parameter, the value and what is allowed.

/// A whole-number input (`INT` widget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntParam {
    /// Our name: the CLI option (with `-` for `_`), the service's query parameter, the Python keyword.
    pub name: &'static str,
    /// The node's input name.
    pub node: &'static str,
    pub default: u32,
    pub min: u32,
    pub max: u32,
    pub step: u32,
    /// One line or more, without a final full stop (clap's style).
    pub help: &'static str,
}

/// A number input (`FLOAT` widget).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatParam {
    pub name: &'static str,
    pub node: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub step: f64,
    /// The node shows it as a slider.
    pub slider: bool,
    pub help: &'static str,
}

/// An on/off input (`BOOLEAN` widget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoolParam {
    pub name: &'static str,
    /// The node's input name; `None` for ours.
    pub node: Option<&'static str>,
    pub default: bool,
    /// The flag of the CLI and the service that turns it off (`no_detail`), where that is how they
    /// spell it.
    pub off_flag: Option<&'static str>,
    pub help: &'static str,
}

/// A choice among names (a combo box); the enum behind it parses them ([`FromStr`]).
#[derive(Debug, Clone, Copy)]
pub struct ChoiceParam {
    pub name: &'static str,
    /// The node's input name; `None` for ours.
    pub node: Option<&'static str>,
    /// Every accepted name, as shown.
    pub choices: fn() -> Vec<&'static str>,
    /// The ComfyUI node's combo box, in its order (its first entry is what a new node shows);
    /// empty where the node has no such input.
    pub node_choices: fn() -> Vec<&'static str>,
    /// `None`: it follows the profile.
    pub default: Option<&'static str>,
    pub help: &'static str,
}

/// One entry of [`TABLE`].
#[derive(Debug, Clone, Copy)]
pub enum Param {
    Int(&'static IntParam),
    Float(&'static FloatParam),
    Bool(&'static BoolParam),
    Choice(&'static ChoiceParam),
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::Int(p) => p.name,
            Param::Float(p) => p.name,
            Param::Bool(p) => p.name,
            Param::Choice(p) => p.name,
        }
    }

    /// The node's input name, for the node's own inputs.
    pub fn node(self) -> Option<&'static str> {
        match self {
            Param::Int(p) => Some(p.node),
            Param::Float(p) => Some(p.node),
            Param::Bool(p) => p.node,
            Param::Choice(p) => p.node,
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Param::Int(p) => p.help,
            Param::Float(p) => p.help,
            Param::Bool(p) => p.help,
            Param::Choice(p) => p.help,
        }
    }
}

pub const METHOD: ChoiceParam = ChoiceParam {
    name: "method",
    node: Some("detail_method"),
    choices: || DetailMethod::all().map(|m| m.name()).collect(),
    node_choices: crate::refine::node_method_names,
    default: None,
    help: "How the edge of the coarse mask is refined, by name or id. Default: PyMatting for \
           --profile quality (the best method that needs no download; with --fast none: the int8 network's soft mask), \
           VITMatte (the node's) for --profile node",
};

pub const ERODE: IntParam = IntParam {
    name: "erode",
    node: "detail_erode",
    default: 6,
    min: 1,
    max: 255,
    step: 1,
    help: "How far the edge band reaches INTO the subject. Larger values let the detail method re-decide more of the \
           subject's border (hair, fur). node: 5-pixel steps of the node (GuidedFilter and PyMatting only use erode + \
           dilate, as one radius); quality: 1 pixel per step at 1024 px, scaled with the photo's long side, around what \
           the network was unsure of",
};

pub const DILATE: IntParam = IntParam {
    name: "dilate",
    node: "detail_dilate",
    help: "How far the edge band reaches OUT into the background (same units as --erode)",
    ..ERODE
};

pub const BLACK_POINT: FloatParam = FloatParam {
    name: "black_point",
    node: "black_point",
    default: 0.01,
    min: 0.01,
    max: 0.98,
    step: 0.01,
    slider: true,
    help: "Alpha at or below this becomes fully transparent; the rest is stretched up (for PyMatting: the threshold \
           under which the blurred mask counts as background)",
};

pub const WHITE_POINT: FloatParam = FloatParam {
    name: "white_point",
    node: "white_point",
    default: 0.99,
    min: 0.02,
    max: 0.99,
    step: 0.01,
    slider: true,
    help: "Alpha at or above this becomes fully opaque (for PyMatting: the threshold above which the blurred mask \
           counts as foreground)",
};

pub const PROCESS_DETAIL: BoolParam = BoolParam {
    name: "process_detail",
    node: Some("process_detail"),
    default: true,
    off_flag: Some("no_detail"),
    help: "Skip the detail method: output the segmentation model's mask (node: binarised; quality: soft)",
};

pub const DEVICE: ChoiceParam = ChoiceParam {
    name: "device",
    node: Some("device"),
    choices: || Device::ALL.iter().map(|d| d.id()).collect(),
    node_choices: || Device::NODE.iter().map(|d| d.id()).collect(),
    default: Some("auto"),
    help: "Where the networks run: auto (CUDA when available), cpu, cuda",
};

pub const MAX_MEGAPIXELS: FloatParam = FloatParam {
    name: "max_megapixels",
    node: "max_megapixels",
    default: 2.0,
    min: 1.0,
    max: 999.0,
    step: 0.1,
    slider: false,
    help: "The detail method works on at most this many megapixels (of 2^20 pixels); larger images are scaled down \
           for it and its alpha scaled back up (node: ViTMatte only, as the node; quality: every method)",
};

pub const PROFILE: ChoiceParam = ChoiceParam {
    name: "profile",
    node: None,
    choices: profile_ids,
    // Offered by our node as an optional input, the node's behaviour first.
    node_choices: profile_ids,
    default: Some("quality"),
    help: "quality (default): the network's soft mask, refined only in a band around its edge, with the foreground \
           colour estimated under the edge; faint background the network rejected stays transparent. node: exactly \
           the ComfyUI node's output (binarised coarse mask, input colours kept), for parity with saved workflows",
};

pub const FOREGROUND: ChoiceParam = ChoiceParam {
    name: "foreground",
    node: None,
    choices: || ForegroundMethod::ALL.iter().map(|f| f.id()).collect(),
    node_choices: Vec::new,
    default: None,
    help: "The cut-out's colours under the soft edge: ml (multi-level foreground estimation, best), blur \
           (blur-fusion, faster), off (the input's colours, which keep the old background's tint). Default: ml for \
           --profile quality, off for --profile node",
};

pub const FAST: BoolParam = BoolParam {
    name: "fast",
    node: None,
    default: false,
    off_flag: None,
    help: "The quality profile on the int8 model made from the segmentation model (isnet-general-int8, about 3x \
           faster on CPU; made once on first use, see `rmbg-ultra models fetch`), keeping its soft mask unless a \
           method is named",
};

/// [`METHOD`]'s help with every method, named and with its id, for a front-end that shows one text.
pub fn method_help() -> String {
    let methods: Vec<String> = DetailMethod::all().map(|m| format!("{} ({})", m.name(), m.id())).collect();
    format!("{}. Methods: {}", METHOD.help, methods.join(", "))
}

fn profile_ids() -> Vec<&'static str> {
    Profile::ALL.iter().map(|p| p.id()).collect()
}

/// Every parameter: the node's inputs in the order of its widgets, then ours.
pub const TABLE: [Param; 11] = [
    Param::Choice(&METHOD),
    Param::Int(&ERODE),
    Param::Int(&DILATE),
    Param::Float(&BLACK_POINT),
    Param::Float(&WHITE_POINT),
    Param::Bool(&PROCESS_DETAIL),
    Param::Choice(&DEVICE),
    Param::Float(&MAX_MEGAPIXELS),
    Param::Choice(&PROFILE),
    Param::Choice(&FOREGROUND),
    Param::Bool(&FAST),
];

impl IntParam {
    /// `lo..=hi`, as every message shows the range.
    pub fn range(&self) -> String {
        format!("{}..={}", self.min, self.max)
    }

    /// A value given as a number (Python, the node): checked against the range.
    pub fn check(&self, v: i64) -> Result<u32> {
        match u32::try_from(v) {
            Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
            _ => Err(self.invalid(v.to_string())),
        }
    }

    /// A value given as text (command line, query string): a whole number in the range.
    pub fn parse(&self, s: &str) -> Result<u32> {
        let invalid = || self.invalid(format!("{s:?}"));
        let v = s.trim().parse::<i64>().map_err(|_| invalid())?;
        self.check(v).map_err(|_| invalid())
    }

    /// The help text with the range, as the CLI shows it.
    pub fn help_with_range(&self) -> String {
        format!("{}. Range {}", self.help, self.range())
    }

    fn invalid(&self, value: String) -> Error {
        Error::InvalidParameter { name: self.name, value, allowed: self.range() }
    }
}

impl FloatParam {
    pub fn range(&self) -> String {
        format!("{}..={}", self.min, self.max)
    }

    /// A finite value in the range.
    pub fn check(&self, v: f64) -> Result<f64> {
        if v.is_finite() && v >= self.min && v <= self.max {
            Ok(v)
        } else {
            Err(self.invalid(v.to_string()))
        }
    }

    pub fn parse(&self, s: &str) -> Result<f64> {
        s.trim().parse::<f64>().ok().and_then(|v| self.check(v).ok()).ok_or_else(|| self.invalid(format!("{s:?}")))
    }

    pub fn help_with_range(&self) -> String {
        format!("{}. Range {}", self.help, self.range())
    }

    fn invalid(&self, value: String) -> Error {
        Error::InvalidParameter { name: self.name, value, allowed: self.range() }
    }
}

impl BoolParam {
    /// `true, 1, yes, on` or `false, 0, no, off` (any case); empty text means yes, as a bare flag does.
    pub fn parse(&self, s: &str) -> Result<bool> {
        parse_bool(self.name, s)
    }

    /// The value of [`BoolParam::off_flag`] given as text: the parameter is its negation.
    pub fn parse_off(&self, s: &str) -> Result<bool> {
        parse_bool(self.off_flag.unwrap_or(self.name), s).map(|off| !off)
    }
}

fn parse_bool(name: &'static str, s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::InvalidParameter { name, value: format!("{s:?}"), allowed: "true, false (1, 0, yes, no, on, off)".into() }),
    }
}

/// The table's entry for our name or the node's (`erode` and `detail_erode` alike).
pub fn find(name: &str) -> Option<Param> {
    TABLE.into_iter().find(|p| p.name() == name || p.node() == Some(name))
}

/// An [`Error::InvalidParameter`] under the node's input name (`detail_erode` for `erode`), as the
/// node's front-end and [`Params`]' fields name it; other errors as they are.
pub fn in_node_terms(e: Error) -> Error {
    renamed(e, Param::node)
}

/// An [`Error::InvalidParameter`] under our name (`erode` for `detail_erode`), as the CLI, the
/// service and the Python package name it; other errors as they are.
pub fn in_our_terms(e: Error) -> Error {
    renamed(e, |p| Some(p.name()))
}

fn renamed(e: Error, to: fn(Param) -> Option<&'static str>) -> Error {
    match e {
        Error::InvalidParameter { name, value, allowed } => {
            let name = find(name).and_then(to).unwrap_or(name);
            Error::InvalidParameter { name, value, allowed }
        }
        other => other,
    }
}

/// A removal's parameters as a front-end holds them before they are checked (numbers as given,
/// names as text; `None`: the profile's), for those that do not parse text (the Python side).
#[derive(Debug, Clone, Copy)]
pub struct Given<'a> {
    pub profile: &'a str,
    pub method: Option<&'a str>,
    pub erode: i64,
    pub dilate: i64,
    pub black_point: f64,
    pub white_point: f64,
    pub process_detail: bool,
    pub max_megapixels: f64,
    pub foreground: Option<&'a str>,
    pub fast: bool,
}

impl Given<'_> {
    /// Parsed and checked by the table; errors name the parameter by our name
    /// ([`in_node_terms`] gives the node's).
    pub fn params(&self) -> Result<Params> {
        let profile: Profile = self.profile.parse()?;
        let method = self.method.map(str::parse::<DetailMethod>).transpose()?;
        let foreground = self.foreground.map(str::parse::<ForegroundMethod>).transpose()?.unwrap_or(profile.default_foreground());
        Ok(Params {
            profile,
            detail_erode: ERODE.check(self.erode)?,
            detail_dilate: DILATE.check(self.dilate)?,
            black_point: BLACK_POINT.check(self.black_point)?,
            white_point: WHITE_POINT.check(self.white_point)?,
            max_megapixels: MAX_MEGAPIXELS.check(self.max_megapixels)?,
            foreground,
            ..Params::for_profile(profile)
        }
        .with_detail(method, self.fast, self.process_detail))
    }
}

impl Params {
    /// `method` and `process_detail` from what a front-end was given: the method named (or none),
    /// `fast`, and whether detail is processed at all ([`Profile::detail`] decides the rest).
    pub fn with_detail(self, named: Option<DetailMethod>, fast: bool, process_detail: bool) -> Self {
        match self.profile.detail(named, fast) {
            Some(method) => Params { method, process_detail, ..self },
            None => Params { method: self.profile.default_method(fast), process_detail: false, ..self },
        }
    }

    /// Checks every value against the node's widget ranges; errors name the field (the node's name).
    /// The node does not require black_point < white_point; neither do we (PyMatting refuses it later).
    pub fn validate(&self) -> Result<()> {
        if self.profile == Profile::Node && self.process_detail && !self.method.in_node() {
            return Err(crate::refine::not_in_node(self.method.name()));
        }
        let check = || -> Result<()> {
            ERODE.check(self.detail_erode.into())?;
            DILATE.check(self.detail_dilate.into())?;
            BLACK_POINT.check(self.black_point)?;
            WHITE_POINT.check(self.white_point)?;
            MAX_MEGAPIXELS.check(self.max_megapixels)?;
            Ok(())
        };
        check().map_err(in_node_terms)
    }

    /// `detail_erode + detail_dilate`, the single "range" GuidedFilter and PyMatting use.
    pub fn detail_range(&self) -> u32 {
        self.detail_erode + self.detail_dilate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_nodes_and_valid() {
        assert_eq!(Params::default().profile, Profile::Quality);
        assert_eq!(Params::default().method, DetailMethod::PYMATTING);
        assert_eq!(Profile::Quality.default_method(true), DetailMethod::GUIDED_FILTER);
        assert_eq!(Profile::Node.default_method(true), DetailMethod::VITMATTE);
        assert_eq!(
            Params { profile: Profile::Node, foreground: ForegroundMethod::Off, method: DetailMethod::VITMATTE, ..Params::default() },
            Params::node()
        );
        let p = Params::node();
        assert_eq!(p.foreground, ForegroundMethod::Off);
        assert_eq!(p.method, DetailMethod::VITMATTE);
        assert_eq!((p.detail_erode, p.detail_dilate), (6, 6));
        assert_eq!((p.black_point, p.white_point), (0.01, 0.99));
        assert!(p.process_detail);
        assert_eq!(p.max_megapixels, 2.0);
        p.validate().unwrap();
    }

    #[test]
    fn profiles_methods_and_devices_parse() {
        for p in Profile::ALL {
            assert_eq!(p.id().parse::<Profile>().unwrap(), p);
        }
        assert_eq!("Quality".parse::<Profile>().unwrap(), Profile::Quality);
        let err = "best".parse::<Profile>().unwrap_err().to_string();
        assert!(err.contains("profile") && err.contains("node, quality"), "{err}");
        let err = "Matting".parse::<DetailMethod>().unwrap_err().to_string();
        assert!(err.starts_with("invalid method = Matting") && err.contains("GuidedFilter"), "{err}");
        let err = "tpu".parse::<Device>().unwrap_err().to_string();
        assert_eq!(err, "invalid device = tpu: allowed auto, cpu, cuda");
        assert_eq!("GPU".parse::<Device>().unwrap(), Device::Cuda);
        for d in Device::ALL {
            assert_eq!(d.id().parse::<Device>().unwrap(), d);
        }
    }

    #[test]
    fn out_of_range_values_name_parameter_value_and_range() {
        let cases: Vec<(Params, &str)> = vec![
            (Params { detail_erode: 0, ..Params::default() }, "invalid detail_erode = 0: allowed 1..=255"),
            (Params { detail_dilate: 256, ..Params::default() }, "invalid detail_dilate = 256"),
            (Params { black_point: 0.0, ..Params::default() }, "black_point = 0"),
            (Params { white_point: 1.0, ..Params::default() }, "white_point = 1"),
            (Params { max_megapixels: 0.5, ..Params::default() }, "max_megapixels = 0.5"),
            (Params { max_megapixels: f64::NAN, ..Params::default() }, "max_megapixels = NaN"),
        ];
        for (p, want) in cases {
            let msg = p.validate().unwrap_err().to_string();
            assert!(msg.contains(want), "{msg} lacks {want}");
        }
    }

    #[test]
    fn every_default_is_in_its_range_and_among_its_choices() {
        for p in TABLE {
            match p {
                Param::Int(i) => assert_eq!(i.check(i.default.into()).unwrap(), i.default, "{}", i.name),
                Param::Float(f) => {
                    assert_eq!(f.check(f.default).unwrap(), f.default, "{}", f.name);
                    assert!(f.step > 0.0 && f.step <= f.max - f.min, "{}", f.name);
                }
                Param::Bool(_) => {}
                Param::Choice(c) => {
                    let choices = (c.choices)();
                    assert!(!choices.is_empty(), "{}", c.name);
                    if let Some(d) = c.default {
                        assert!(choices.contains(&d), "{}: default {d} not among {choices:?}", c.name);
                    }
                    for n in (c.node_choices)() {
                        assert!(choices.contains(&n), "{}: the node's {n} is not ours", c.name);
                    }
                    assert_eq!(c.node.is_some() || c.name == PROFILE.name, !(c.node_choices)().is_empty(), "{}", c.name);
                }
            }
        }
    }

    #[test]
    fn the_tables_defaults_are_the_types() {
        assert_eq!(PROFILE.default, Some(Profile::default().id()));
        assert_eq!(DEVICE.default, Some(Device::default().id()));
        assert_eq!(Params::for_profile(Profile::Node).process_detail, PROCESS_DETAIL.default);
        assert_eq!(crate::decode::DecodeLimits::default().max_pixels, MAX_PIXELS);
    }

    #[test]
    fn names_and_node_aliases_are_unique_and_found() {
        let mut seen = std::collections::HashSet::new();
        for p in TABLE {
            assert!(seen.insert(p.name()), "{} twice", p.name());
            assert_eq!(find(p.name()).map(Param::name), Some(p.name()));
            if let Some(node) = p.node() {
                assert!(node == p.name() || seen.insert(node), "{node} twice");
                assert_eq!(find(node).map(Param::name), Some(p.name()));
            }
            assert!(!p.help().is_empty() && !p.help().contains("  ") && !p.help().ends_with('.'), "{}: help {:?}", p.name(), p.help());
        }
        let node: Vec<_> = TABLE.iter().filter_map(|p| p.node()).collect();
        assert_eq!(
            node,
            ["detail_method", "detail_erode", "detail_dilate", "black_point", "white_point", "process_detail", "device", "max_megapixels"],
            "the node's inputs in the order of its widgets (docs/node-behaviour.md §1)"
        );
        assert_eq!((DEVICE.node_choices)(), ["cuda", "cpu"]);
        assert_eq!((METHOD.node_choices)(), ["VITMatte", "VITMatte(local)", "vitmatte-base-composition-1k", "PyMatting", "GuidedFilter"]);
    }

    #[test]
    fn parse_errors_name_parameter_value_and_range() {
        assert_eq!(ERODE.parse(" 12 ").unwrap(), 12);
        assert_eq!(BLACK_POINT.parse("0.5").unwrap(), 0.5);
        for (got, want) in [
            (ERODE.parse("0"), "invalid erode = \"0\": allowed 1..=255"),
            (DILATE.parse("x"), "invalid dilate = \"x\": allowed 1..=255"),
            (DILATE.parse("4294967297"), "invalid dilate = \"4294967297\": allowed 1..=255"),
            (ERODE.check(-1), "invalid erode = -1: allowed 1..=255"),
        ] {
            assert_eq!(got.unwrap_err().to_string(), want);
        }
        for (got, want) in [
            (BLACK_POINT.parse("0.99"), "invalid black_point = \"0.99\": allowed 0.01..=0.98"),
            (WHITE_POINT.parse("NaN"), "invalid white_point = \"NaN\": allowed 0.02..=0.99"),
            (MAX_MEGAPIXELS.parse("1e3"), "invalid max_megapixels = \"1e3\": allowed 1..=999"),
            (MAX_MEGAPIXELS.check(f64::INFINITY), "invalid max_megapixels = inf: allowed 1..=999"),
        ] {
            assert_eq!(got.unwrap_err().to_string(), want);
        }
        assert_eq!((FAST.parse("").unwrap(), FAST.parse("Yes").unwrap(), FAST.parse(" off").unwrap()), (true, true, false));
        assert!(!PROCESS_DETAIL.parse_off("1").unwrap() && PROCESS_DETAIL.parse_off("false").unwrap());
        let err = PROCESS_DETAIL.parse_off("maybe").unwrap_err().to_string();
        assert_eq!(err, "invalid no_detail = \"maybe\": allowed true, false (1, 0, yes, no, on, off)");
    }

    #[test]
    fn errors_take_the_node_names_or_ours() {
        let e = in_node_terms(ERODE.check(0).unwrap_err()).to_string();
        assert_eq!(e, "invalid detail_erode = 0: allowed 1..=255");
        let e = in_node_terms("Matting".parse::<DetailMethod>().unwrap_err()).to_string();
        assert!(e.starts_with("invalid detail_method = Matting"), "{e}");
        let e = in_node_terms(BLACK_POINT.check(0.0).unwrap_err()).to_string();
        assert_eq!(e, "invalid black_point = 0: allowed 0.01..=0.98");
        let e = in_our_terms(Params { detail_dilate: 0, ..Params::default() }.validate().unwrap_err()).to_string();
        assert_eq!(e, "invalid dilate = 0: allowed 1..=255");
    }

    fn node_defaults(profile: &str) -> Given<'_> {
        let p = Params::node();
        Given {
            profile,
            method: None,
            erode: p.detail_erode.into(),
            dilate: p.detail_dilate.into(),
            black_point: p.black_point,
            white_point: p.white_point,
            process_detail: p.process_detail,
            max_megapixels: p.max_megapixels,
            foreground: None,
            fast: false,
        }
    }

    #[test]
    fn the_profiles_defaults_fill_what_is_not_given() {
        assert_eq!(node_defaults("node").params().unwrap(), Params::node());
        assert_eq!(node_defaults("quality").params().unwrap(), Params::default());
        let fast = Given { fast: true, ..node_defaults("quality") }.params().unwrap();
        assert!(!fast.process_detail, "fast keeps the int8 network's soft mask");
        let fast = Given { fast: true, method: Some("guided-filter"), ..node_defaults("quality") }.params().unwrap();
        assert_eq!((fast.method, fast.process_detail), (DetailMethod::GUIDED_FILTER, true));
        let off = Given { method: Some("guided-filter"), process_detail: false, ..node_defaults("quality") }.params().unwrap();
        assert!(!off.process_detail);
        let given = Given { method: Some("pymatting"), foreground: Some("blur"), ..node_defaults("node") }.params().unwrap();
        assert_eq!((given.method, given.foreground), (DetailMethod::PYMATTING, ForegroundMethod::BlurFusion));
    }

    #[test]
    fn errors_name_our_parameter_or_the_nodes() {
        for (inputs, ours, node) in [
            (Given { erode: -1, ..node_defaults("node") }, "invalid erode = -1: allowed 1..=255", "invalid detail_erode = -1"),
            (Given { dilate: 1 << 40, ..node_defaults("node") }, "invalid dilate = 1099511627776", "invalid detail_dilate = 1099511627776"),
            (Given { method: Some("Matting"), ..node_defaults("node") }, "invalid method = Matting", "invalid detail_method = Matting"),
            (Given { white_point: f64::NAN, ..node_defaults("node") }, "invalid white_point = NaN", "invalid white_point = NaN"),
            (Given { max_megapixels: 0.0, ..node_defaults("node") }, "invalid max_megapixels = 0", "invalid max_megapixels = 0"),
            (node_defaults("best"), "invalid profile = best", "invalid profile = best"),
        ] {
            let e = inputs.params().unwrap_err();
            assert!(e.to_string().starts_with(ours), "{e}");
            let e = in_node_terms(e).to_string();
            assert!(e.starts_with(node), "{e}");
        }
    }
}
