//! A bounded run of the input fuzzer (`bench/fuzz_inputs.rs`, whose full run is `bench/fuzz`):
//! profiles and rosters, mutated from the built-in profiles, a profile with every section and
//! a roster, never make labprov panic; each ends in a config or a typed error.

#[path = "../bench/fuzz_inputs.rs"]
mod fuzz;

#[test]
fn mutated_profiles_and_rosters_never_panic() {
    let stats = fuzz::run(20_000, 0x5eed);
    assert_eq!(stats.executions, 20_000);
    // The inputs reach both outcomes: some still validate, most are refused.
    assert!(stats.accepted > 100, "{stats:?}");
    assert!(stats.refused > 1000, "{stats:?}");
    assert_eq!(stats.panic_count, 0, "{:#?}", stats.panics);
}

#[test]
fn the_harness_catches_and_reports_a_panic() {
    let stats = fuzz::run_with(200, 7, |_, input| {
        assert!(!input.contains('['), "a bracket");
        true
    });
    assert!(stats.panic_count > 0, "{stats:?}");
    assert_eq!(stats.panics[0].1, "a bracket");
}
