//! kubectl's pin: `versions.kubectl` and `[artifacts.kubectl]`.

use crate::config::artifacts::ArtifactSpec;

// kubectl v1.37.1 (2026-09-15, checked 2026-12-01): the same minor as the cluster; kubectl is
// supported within one minor of the API server (kubernetes.io/releases/version-skew-policy/#kubectl).
pub const ARTIFACT: ArtifactSpec = ArtifactSpec {
    key: "kubectl",
    default_version: "v1.37.1",
    leading_v: true,
    url: "https://dl.k8s.io/release/{version}/bin/linux/{arch}/kubectl",
};
