//! Edge refinement of the coarse mask, one module per detail method of the node.

pub mod band;
pub mod guided_filter;
pub mod pymatting;
pub mod vitmatte;
