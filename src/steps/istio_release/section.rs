//! The Istio release's pin: `versions.istio` and `[artifacts.istio]`.

use crate::config::artifacts::ArtifactSpec;

// Istio 1.31.1 (checked 2026-12-01): Istio 1.31 supports Kubernetes 1.32 to 1.37, end of life
// ~Feb 2027 (istio.io/latest/docs/releases/supported-releases, from istio/istio.io
// data/compatibility/supportStatus.yml); 1.30 stops at 1.36 and reaches its end of life about
// now, 1.29 was due to end on 2026-10-12.
pub const ARTIFACT: ArtifactSpec = ArtifactSpec {
    key: "istio",
    default_version: "1.31.1",
    leading_v: false,
    url: "https://github.com/istio/istio/releases/download/{version}/istio-{version}-linux-{arch}.tar.gz",
};
