//! The weighted-routing decision: Pearson's chi-square goodness-of-fit test of the observed
//! reviews versions against the VirtualService's weights, and against the split the exercise
//! asks for (the profile's lab.weights, 50/30/20 by default): the same requests, two tests.
//!
//! False-alarm rate α = 0.001 per test (at most 0.002 for the check): a correctly routed lab
//! fails this check at most twice in a thousand runs (a class of 30 VMs sees a false alarm
//! about once in 17 runs of the whole class).
//! N = 200 requests: with 50/30/20 the smallest expected count is 40, far above the 5 the
//! chi-square approximation wants, and a wrong split is never missed (90/5/5 observed
//! against 50/30/20 gives χ² ≈ 128, against the critical value 13.82 at df 2). A split
//! ten points off (60/25/15) gives χ² ≈ 8.2 and passes: the check proves that the
//! VirtualService's weights drive the traffic, not Envoy's exact randomness. 200 requests
//! through productpage take a few seconds on a lab VM.

/// Requests sent for the weighted-routing check (see the module's comment).
pub const WEIGHTED_N: usize = 200;
/// Requests sent for the all-v1 check: by chance, 20 requests all landing on v1 of three
/// equally likely versions happens with probability 3^-20 ≈ 3e-10.
pub const ALL_V1_N: usize = 20;
/// The false-alarm rate of the weighted-routing test.
pub const ALPHA: f64 = 0.001;

/// Upper critical values of the chi-square distribution at α = 0.001, by degrees of
/// freedom 1..=8 (any statistics table, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4).
const CRITICAL_0_001: [f64; 8] = [
    10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124,
];

/// The test's outcome: statistic, degrees of freedom, critical value, whether it rejects.
#[derive(Debug, Clone, PartialEq)]
pub struct ChiSquare {
    pub statistic: f64,
    pub df: usize,
    pub critical: f64,
    pub rejects: bool,
}

/// Pearson's statistic of `observed` counts against `weights` (any positive scale). Only
/// categories with a positive weight enter the test; a count in a category of weight 0 is
/// a rejection by itself (the routing sent traffic where none should go). `None` when
/// fewer than two categories have weight (nothing to test) or nothing was observed.
pub fn chi_square(observed: &[u64], weights: &[u32]) -> Option<ChiSquare> {
    let total: u64 = observed.iter().sum();
    // Weights come from the host's answer: summed wide, so no answer can overflow them.
    let wsum: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    let live: Vec<(u64, f64)> = observed
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0)
        .map(|(o, w)| (*o, total as f64 * *w as f64 / wsum as f64))
        .collect();
    if total == 0 || live.len() < 2 {
        return None;
    }
    let stray = observed.iter().zip(weights).any(|(o, w)| *w == 0 && *o > 0);
    let statistic: f64 = live.iter().map(|(o, e)| (*o as f64 - e).powi(2) / e).sum();
    let df = live.len() - 1;
    let critical = CRITICAL_0_001[(df - 1).min(CRITICAL_0_001.len() - 1)];
    Some(ChiSquare {
        statistic,
        df,
        critical,
        rejects: stray || statistic > critical,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_90_5_5_split_is_rejected_against_50_30_20() {
        let t = chi_square(&[180, 10, 10], &[50, 30, 20]).unwrap();
        assert!((t.statistic - 128.17).abs() < 0.01, "{t:?}");
        assert_eq!((t.df, t.critical, t.rejects), (2, 13.816, true));
    }

    #[test]
    fn the_expected_split_and_ordinary_noise_pass() {
        assert!(!chi_square(&[100, 60, 40], &[50, 30, 20]).unwrap().rejects);
        // About two standard deviations off on v1 (sd = √(200·0.5·0.5) ≈ 7).
        let t = chi_square(&[114, 52, 34], &[50, 30, 20]).unwrap();
        assert!(!t.rejects, "{t:?}");
    }

    #[test]
    fn traffic_to_a_version_without_weight_rejects() {
        let t = chi_square(&[100, 95, 5], &[50, 50, 0]).unwrap();
        assert_eq!(t.df, 1);
        assert!(t.rejects);
        assert!(chi_square(&[20, 0, 0], &[100, 0, 0]).is_none());
        assert!(chi_square(&[0, 0, 0], &[50, 30, 20]).is_none());
    }
}
