//! The node's inputs, with its defaults and ranges (docs/node-behaviour.md §1), and the profile that
//! says whether they are read exactly as the node reads them.

use crate::foreground::ForegroundMethod;
use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// How the coarse mask's edges are refined (`detail_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailMethod {
    /// `VITMatte`: ViTMatte small; may fetch the model.
    VitMatte,
    /// `VITMatte(local)`: ViTMatte small, never touches the network.
    VitMatteLocal,
    /// `vitmatte-base-composition-1k`: ViTMatte base.
    VitMatteBase,
    /// `PyMatting`: closed-form matting (Levin et al.) on a blurred band.
    PyMatting,
    /// `GuidedFilter`: He et al.'s colour guided filter.
    GuidedFilter,
}

impl DetailMethod {
    pub const ALL: [DetailMethod; 5] = [
        DetailMethod::VitMatte,
        DetailMethod::VitMatteLocal,
        DetailMethod::VitMatteBase,
        DetailMethod::PyMatting,
        DetailMethod::GuidedFilter,
    ];

    /// The name the node's combo box shows.
    pub fn node_name(self) -> &'static str {
        match self {
            DetailMethod::VitMatte => "VITMatte",
            DetailMethod::VitMatteLocal => "VITMatte(local)",
            DetailMethod::VitMatteBase => "vitmatte-base-composition-1k",
            DetailMethod::PyMatting => "PyMatting",
            DetailMethod::GuidedFilter => "GuidedFilter",
        }
    }

    /// A shell-friendly id.
    pub fn id(self) -> &'static str {
        match self {
            DetailMethod::VitMatte => "vitmatte",
            DetailMethod::VitMatteLocal => "vitmatte-local",
            DetailMethod::VitMatteBase => "vitmatte-base",
            DetailMethod::PyMatting => "pymatting",
            DetailMethod::GuidedFilter => "guided-filter",
        }
    }

    pub fn is_vitmatte(self) -> bool {
        matches!(self, DetailMethod::VitMatte | DetailMethod::VitMatteLocal | DetailMethod::VitMatteBase)
    }
}

impl fmt::Display for DetailMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.node_name())
    }
}

impl FromStr for DetailMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DetailMethod::ALL
            .into_iter()
            .find(|m| m.node_name() == s || m.id() == s)
            .ok_or_else(|| Error::InvalidParameter {
                name: "detail_method",
                value: s.to_string(),
                allowed: DetailMethod::ALL.iter().map(|m| format!("{} ({})", m.node_name(), m.id())).collect::<Vec<_>>().join(", "),
            })
    }
}

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

    /// The detail method when none is named. The node's is VITMatte. `quality` takes the best method
    /// that needs no download: closed-form matting in the band beats GuidedFilter and the soft mask
    /// alone on the ground-truth benchmark (BENCHMARKS.md), and ViTMatte's weights are not on every
    /// machine (a first run without them would fail). With `fast` (the int8 network) it takes
    /// GuidedFilter: the closed-form solve would take more time than the int8 network saves.
    pub fn default_method(self, fast: bool) -> DetailMethod {
        match (self, fast) {
            (Profile::Node, _) => DetailMethod::VitMatte,
            (Profile::Quality, false) => DetailMethod::PyMatting,
            (Profile::Quality, true) => DetailMethod::GuidedFilter,
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
            name: "profile",
            value: s.to_string(),
            allowed: "node, quality".into(),
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

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            _ => Err(Error::InvalidParameter { name: "device", value: s.into(), allowed: "auto, cpu, cuda".into() }),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
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
            detail_erode: 6,
            detail_dilate: 6,
            black_point: 0.01,
            white_point: 0.99,
            process_detail: true,
            max_megapixels: 2.0,
        }
    }

    /// The node exactly, with its defaults.
    pub fn node() -> Self {
        Params::for_profile(Profile::Node)
    }
}

pub const ERODE_RANGE: (u32, u32) = (1, 255);
pub const DILATE_RANGE: (u32, u32) = (1, 255);
pub const BLACK_POINT_RANGE: (f64, f64) = (0.01, 0.98);
pub const WHITE_POINT_RANGE: (f64, f64) = (0.02, 0.99);
pub const MAX_MEGAPIXELS_RANGE: (f64, f64) = (1.0, 999.0);

impl Params {
    /// Checks every value against the node's widget ranges.
    /// The node does not require black_point < white_point; neither do we (PyMatting refuses it later).
    pub fn validate(&self) -> Result<()> {
        check_int("detail_erode", self.detail_erode, ERODE_RANGE)?;
        check_int("detail_dilate", self.detail_dilate, DILATE_RANGE)?;
        check_float("black_point", self.black_point, BLACK_POINT_RANGE)?;
        check_float("white_point", self.white_point, WHITE_POINT_RANGE)?;
        check_float("max_megapixels", self.max_megapixels, MAX_MEGAPIXELS_RANGE)?;
        Ok(())
    }

    /// `detail_erode + detail_dilate`, the single "range" GuidedFilter and PyMatting use.
    pub fn detail_range(&self) -> u32 {
        self.detail_erode + self.detail_dilate
    }
}

fn check_int(name: &'static str, v: u32, (lo, hi): (u32, u32)) -> Result<()> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, value: v.to_string(), allowed: format!("{lo}..={hi}") })
    }
}

fn check_float(name: &'static str, v: f64, (lo, hi): (f64, f64)) -> Result<()> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, value: v.to_string(), allowed: format!("{lo}..={hi}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_nodes_and_valid() {
        assert_eq!(Params::default().profile, Profile::Quality);
        assert_eq!(Params::default().method, DetailMethod::PyMatting);
        assert_eq!(Profile::Quality.default_method(true), DetailMethod::GuidedFilter);
        assert_eq!(Profile::Node.default_method(true), DetailMethod::VitMatte);
        assert_eq!(
            Params { profile: Profile::Node, foreground: ForegroundMethod::Off, method: DetailMethod::VitMatte, ..Params::default() },
            Params::node()
        );
        let p = Params::node();
        assert_eq!(p.foreground, ForegroundMethod::Off);
        assert_eq!(p.method, DetailMethod::VitMatte);
        assert_eq!((p.detail_erode, p.detail_dilate), (6, 6));
        assert_eq!((p.black_point, p.white_point), (0.01, 0.99));
        assert!(p.process_detail);
        assert_eq!(p.max_megapixels, 2.0);
        p.validate().unwrap();
    }

    #[test]
    fn methods_parse_from_node_names_and_ids() {
        for m in DetailMethod::ALL {
            assert_eq!(m.node_name().parse::<DetailMethod>().unwrap(), m);
            assert_eq!(m.id().parse::<DetailMethod>().unwrap(), m);
        }
        for p in Profile::ALL {
            assert_eq!(p.id().parse::<Profile>().unwrap(), p);
        }
        assert_eq!("Quality".parse::<Profile>().unwrap(), Profile::Quality);
        let err = "best".parse::<Profile>().unwrap_err().to_string();
        assert!(err.contains("profile") && err.contains("node, quality"), "{err}");
        let err = "Matting".parse::<DetailMethod>().unwrap_err().to_string();
        assert!(err.contains("detail_method") && err.contains("GuidedFilter"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_parameter_value_and_range() {
        let cases: Vec<(Params, &str)> = vec![
            (Params { detail_erode: 0, ..Params::default() }, "detail_erode = 0: allowed 1..=255"),
            (Params { detail_dilate: 256, ..Params::default() }, "detail_dilate = 256"),
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
}
