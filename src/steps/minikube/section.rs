//! minikube's pin: `versions.minikube` and `[artifacts.minikube]`.

use crate::config::artifacts::ArtifactSpec;

// minikube v1.39.0 (2026-09-01, its newest release, checked 2026-12-01): supports Kubernetes
// v1.28.0 to v1.37.0, default v1.37.0 (release notes "Add support for Kubernetes v1.36 and
// v1.37 (default: v1.37.0)"). crate::compat refuses pins that do not support each other.
pub const ARTIFACT: ArtifactSpec = ArtifactSpec {
    key: "minikube",
    default_version: "v1.39.0",
    leading_v: true,
    url: "https://github.com/kubernetes/minikube/releases/download/{version}/minikube-linux-{arch}",
};
