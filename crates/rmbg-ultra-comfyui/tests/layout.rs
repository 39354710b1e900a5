//! The numpy array checks and the raw slices over numpy's memory (src/array/layout.rs), tested
//! as plain Rust: the extension itself links against the interpreter that imports it and so has
//! no test binary of its own. Its tests are in that file.

#[path = "../src/array/layout.rs"]
mod layout;
