//! Edge refinement of the coarse mask: one module per detail method, each a [`Method`], and
//! [`METHODS`], the registry that every front-end lists, parses and runs them from.
//!
//! A new method is its module (a type that implements [`Method`], with its tests) and its entry in
//! [`METHODS`]. The CLI, the service, the Python package and the ComfyUI node take their lists,
//! parsers and dispatch from here; the ComfyUI node's combo box shows only the node's own methods
//! ([`Method::in_node`]), so that its inputs stay the original node's.

pub mod band;
pub mod guided_filter;
pub mod pymatting;
pub mod vitmatte;

use crate::models::locate::MattingModel;
use crate::params::{Params, METHOD};
use crate::{Error, Result};
use image::{GrayImage, RgbImage};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use vitmatte::VitMatteSession;

/// Every detail method, in the order the node's combo box lists its own.
pub const METHODS: &[DetailMethod] = &[
    DetailMethod::VITMATTE,
    DetailMethod::VITMATTE_LOCAL,
    DetailMethod::VITMATTE_BASE,
    DetailMethod::PYMATTING,
    DetailMethod::GUIDED_FILTER,
];

/// A detail method: how it is named, what it needs, and what it does under each profile.
pub trait Method: Send + Sync {
    /// The name shown and parsed: for the node's methods, the node's combo-box entry.
    fn name(&self) -> &'static str;

    /// A shell-friendly id, parsed too.
    fn id(&self) -> &'static str;

    /// The original node offers it: it is in the node's combo box, and [`Method::refine_coarse`] is
    /// the node's branch for it. A method of ours runs only in the `quality` profile.
    fn in_node(&self) -> bool {
        false
    }

    /// The matting network it runs; the remover loads it once and passes its session.
    fn matting_model(&self) -> Option<MattingModel> {
        None
    }

    /// The `node` profile: the final u8 alpha from the node's 0/255 coarse mask, black and white
    /// points applied as the node applies them (docs/node-behaviour.md §5–7).
    fn refine_coarse(&self, image: &RgbImage, coarse: &GrayImage, params: &Params, matting: Option<&VitMatteSession>) -> Result<GrayImage> {
        let _ = (image, coarse, params, matting);
        Err(not_in_node(self.name()))
    }

    /// The `quality` profile: the alpha (`H×W`, 0..1) of the band's unknown pixels (`trimap` 128)
    /// from the photo and the network's soft mask (u8), at the size they are given. Values outside
    /// the band are not used: the band decides them (refine/band.rs).
    fn refine_band(
        &self,
        image: &RgbImage,
        soft: &GrayImage,
        trimap: &GrayImage,
        params: &Params,
        matting: Option<&VitMatteSession>,
    ) -> Result<Vec<f32>>;

    /// It brings the photo within `max_megapixels` itself (ViTMatte, as the node does); the others
    /// are given a reduced photo and band by refine/band.rs.
    fn limits_its_own_size(&self) -> bool {
        false
    }
}

/// The error for a method of ours under the `node` profile, which has no branch for it.
pub(crate) fn not_in_node(name: &str) -> Error {
    Error::InvalidParameter {
        name: METHOD.name,
        value: format!("{name} with profile node"),
        allowed: format!("the node's methods ({}); {name} runs with profile quality", node_method_names().join(", ")),
    }
}

/// A detail method, as parameters hold it: a handle to its entry in [`METHODS`] that derefs to its
/// [`Method`]. Two handles are equal when their ids are.
#[derive(Clone, Copy)]
pub struct DetailMethod(&'static dyn Method);

impl DetailMethod {
    /// `VITMatte`: ViTMatte small; may fetch the model.
    pub const VITMATTE: DetailMethod = DetailMethod(&vitmatte::VITMATTE);
    /// `VITMatte(local)`: ViTMatte small, never touches the network.
    pub const VITMATTE_LOCAL: DetailMethod = DetailMethod(&vitmatte::VITMATTE_LOCAL);
    /// `vitmatte-base-composition-1k`: ViTMatte base.
    pub const VITMATTE_BASE: DetailMethod = DetailMethod(&vitmatte::VITMATTE_BASE);
    /// `PyMatting`: closed-form matting (Levin et al.).
    pub const PYMATTING: DetailMethod = DetailMethod(&pymatting::PyMatting);
    /// `GuidedFilter`: He et al.'s colour guided filter.
    pub const GUIDED_FILTER: DetailMethod = DetailMethod(&guided_filter::GuidedFilter);

    /// Every method of [`METHODS`].
    pub fn all() -> impl Iterator<Item = DetailMethod> {
        METHODS.iter().copied()
    }
}

/// The names the node's combo box lists, in its order: the methods the node has.
pub fn node_method_names() -> Vec<&'static str> {
    DetailMethod::all().filter(|m| m.in_node()).map(|m| m.name()).collect()
}

impl std::ops::Deref for DetailMethod {
    type Target = dyn Method;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for DetailMethod {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for DetailMethod {}

impl Hash for DetailMethod {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl fmt::Debug for DetailMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DetailMethod({})", self.name())
    }
}

impl fmt::Display for DetailMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DetailMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DetailMethod::all().find(|m| m.name() == s || m.id() == s).ok_or_else(|| Error::InvalidParameter {
            name: METHOD.name,
            value: s.to_string(),
            allowed: DetailMethod::all().map(|m| format!("{} ({})", m.name(), m.id())).collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_method_parses_by_name_and_id_and_both_are_unique() {
        let mut seen = HashSet::new();
        for m in DetailMethod::all() {
            assert_eq!(m.name().parse::<DetailMethod>().unwrap(), m);
            assert_eq!(m.id().parse::<DetailMethod>().unwrap(), m);
            assert!(seen.insert(m.name()) && seen.insert(m.id()), "{m} is named twice");
            assert!(!m.id().contains(char::is_whitespace) && m.id() == m.id().to_lowercase(), "{m}: id {:?}", m.id());
        }
        let err = "Matting".parse::<DetailMethod>().unwrap_err().to_string();
        assert!(err.contains("Matting") && err.contains("GuidedFilter (guided-filter)"), "{err}");
    }

    #[test]
    fn the_node_profile_refuses_a_method_of_ours_by_name() {
        let e = not_in_node("Mine").to_string();
        assert!(e.starts_with("invalid method = Mine with profile node"), "{e}");
        assert!(e.contains("GuidedFilter") && e.contains("Mine runs with profile quality"), "{e}");
    }

    #[test]
    fn methods_that_need_a_network_name_a_matting_model_of_the_registry() {
        for m in DetailMethod::all() {
            if let Some(model) = m.matting_model() {
                let spec = crate::models::spec(model.id).unwrap_or_else(|| panic!("{m}: {} is not in the registry", model.id));
                assert_eq!(spec.task, crate::models::Task::Matting, "{m}");
            }
        }
        assert!(DetailMethod::PYMATTING.matting_model().is_none() && DetailMethod::GUIDED_FILTER.matting_model().is_none());
    }
}
