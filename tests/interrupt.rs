//! Ctrl-C during `up` (README, "Exit codes": 130 Ctrl-C). What an interrupted run leaves
//! behind (journal, summary, the host, this machine) is tested in `interrupt_clean.rs`.

mod common;
mod support;

use std::time::Duration;

use common::World;
use support::{Background, poll};

#[test]
fn sigint_while_a_step_runs_exits_130() {
    let world = World::start(1);
    let mut up = Background::start(&world, &world.profile, &["up"]);

    // The docker step's apply is running once the host logs its first apt-get call (the
    // checks before it only read: dpkg-query, systemctl).
    poll(
        "the docker step's apply to start",
        Duration::from_secs(300),
        || {
            assert!(!up.exited(), "labprov ended before the docker step ran");
            world
                .calls("h1")
                .iter()
                .any(|c| c["tool"] == "apt-get")
                .then_some(())
        },
    );
    up.signal("INT");
    let run = up.finish(Duration::from_secs(120));
    assert_eq!(run.code, 130, "{}", run.explain());
}
