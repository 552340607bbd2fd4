//! What the upstream tools labprov drives do and support, as data, with where it was read.
//!
//! Kept apart from [`crate::config`] so that a change of a pin or of upstream's tables is one
//! edit here, next to its source.

/// The pod address pool of a minikube cluster, whatever its `--cni`: minikube renders Cilium's
/// manifest with `cluster-pool-ipv4-cidr: "{{ .PodSubnet }}"` and fills it with
/// `DefaultPodCIDR` unconditionally (kubernetes/minikube pkg/minikube/cni/cilium.go,
/// `GenerateCiliumYAML`; pkg/minikube/cni/cni.go, `DefaultPodCIDR = "10.244.0.0/16"`), and
/// every other CNI's `CIDR()` returns the same. `--extra-config=kubeadm.pod-network-cidr`
/// reaches kubeadm, not Cilium's pool. So this is the pool in effect, not a choice: Cilium's
/// own default (10.0.0.0/8, where the node resolver of cilium/cilium#16439 collides) is not
/// what minikube runs.
pub const MINIKUBE_POD_CIDR: &str = "10.244.0.0/16";

/// Why `cluster.pod_cidr` is refused: it used to be accepted and did nothing.
pub fn pod_cidr_removed() -> String {
    format!(
        "this key was removed: minikube gives every cluster the pod pool {MINIKUBE_POD_CIDR} \
         (for --cni=cilium too: kubernetes/minikube pkg/minikube/cni/cilium.go), which labprov \
         cannot change; delete the line"
    )
}
