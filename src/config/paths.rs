//! `[paths]`: where binaries and the Istio release go on a host.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::field::{Layered, abs_path};
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPaths {
    pub bin_dir: Option<Spanned<String>>,
    pub istio_dir: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Paths {
    pub bin_dir: String,
    pub istio_dir: String,
}

pub fn section(l: &Layered<RawPaths>) -> Result<Paths> {
    Ok(Paths {
        bin_dir: abs_path(
            l.pick(|r| r.bin_dir.as_ref()),
            "/usr/local/bin",
            "paths.bin_dir",
        )?,
        istio_dir: abs_path(
            l.pick(|r| r.istio_dir.as_ref()),
            "/opt/labprov",
            "paths.istio_dir",
        )?,
    })
}
