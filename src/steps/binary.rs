//! What the minikube and kubectl steps share: a single binary, downloaded, checked against its
//! sha256, and renamed into place. Converged means the file labprov installed and recorded
//! for the pinned version is in place, or else the binary reports that version. Each step
//! states its own pin (`section.rs` in its folder) and version command.
use tera::Context;

use crate::config::{Artifact, Config};

/// The template variables of a binary step: its artifact, where it goes, and the command
/// that prints the installed version (`$bin` is the installed file).
pub fn vars(cfg: &Config, ctx: &mut Context, artifact: &Artifact, version_cmd: &str) {
    ctx.insert("artifact", artifact);
    ctx.insert("dest", &format!("{}/{}", cfg.paths.bin_dir, artifact.name));
    ctx.insert("version_cmd", version_cmd);
}
