//! Reaching hosts: failures to connect are reported per host with their cause and kept apart
//! from command failures; host keys are checked; sudo that wants a password is named.

mod common;

use common::World;

fn with_profile_edit(
    world: &World,
    name: &str,
    edit: impl Fn(String) -> String,
) -> std::path::PathBuf {
    let path = world.dir.join(name);
    std::fs::write(
        &path,
        edit(std::fs::read_to_string(&world.profile).unwrap()),
    )
    .unwrap();
    path
}

#[test]
fn an_unreachable_host_fails_alone_with_its_cause() {
    let world = World::start(1);
    let id = world.id;
    let profile = with_profile_edit(&world, "ghost.toml", |t| {
        t.replace(
            "[versions]",
            &format!("[[hosts]]\nname = \"ghost\"\naddress = \"10.211.{id}.99\"\n\n[versions]"),
        )
    });
    let up = world.labprov_with(&profile, &["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    let n = up.steps_of("h1");
    assert_eq!(
        up.tally("h1"),
        (2, n - 2, 0),
        "the reachable host converges"
    );
    assert_eq!(up.tally("ghost"), (0, 0, 1));
    let connect = up.step("ghost", "connect");
    let detail = connect["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("cannot connect to student@10.211.{id}.99: ")),
        "{detail}"
    );
    assert!(
        detail.contains("attempts"),
        "transient failures are retried: {detail}"
    );
}

#[test]
fn strict_host_keys_refuse_an_unknown_host() {
    let world = World::start(1);
    let profile = with_profile_edit(&world, "strict.toml", |t| {
        t.replace(
            "host_key_policy = \"accept-new\"",
            "host_key_policy = \"strict\"",
        )
    });
    let logins =
        |w: &World| -> Vec<usize> { w.hosts().iter().map(|h| w.ssh_counts(h).0).collect() };
    let before = logins(&world);
    let contacts = world.contacts();
    let plan = world.labprov_with(&profile, &["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.explain());
    let detail = plan.step("h1", "connect")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("Host key verification failed"), "{detail}");
    assert!(
        !detail.contains("attempts"),
        "a key problem is not retried: {detail}"
    );
    // The bastion's unknown key stops ssh before it authenticates anywhere (it did connect:
    // the refusal is ssh's, after the server sent its key).
    assert!(
        world.contacts().since(&contacts).contains_key("bastion"),
        "the bastion was reached"
    );
    assert_eq!(logins(&world), before, "never authenticated, anywhere");
    // Positive control: with accept-new the same counts see a login on the bastion and h1.
    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.explain());
    let after = logins(&world);
    assert!(
        after[0] > before[0] && after[1] > before[1],
        "{before:?} -> {after:?}"
    );
}

#[test]
fn a_changed_host_key_is_refused_even_with_accept_new() {
    let world = World::start(1);
    assert_eq!(world.labprov(&["plan"]).code, 0);
    // Swap h1's recorded key for another host's key: what a man in the middle would look like.
    let known = world.dir.join("known_hosts");
    let other = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(world.dir.join("impostor"))
        .status()
        .unwrap();
    assert!(other.success());
    let impostor = std::fs::read_to_string(world.dir.join("impostor.pub")).unwrap();
    let key = impostor
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let h1 = format!("10.211.{}.11", world.id);
    let text: String = std::fs::read_to_string(&known)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(&h1))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&known, format!("{text}{h1} {key}\n")).unwrap();
    let plan = world.labprov(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.explain());
    let detail = plan.step("h1", "connect")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || detail.contains("Host key verification failed"),
        "{detail}"
    );
}

#[test]
fn sudo_asking_for_a_password_is_named_not_hung_on() {
    let world = World::start(1);
    let out = world.exec(
        "h1",
        None,
        &[
            "sh",
            "-c",
            "echo 'student ALL=(ALL) ALL' > /etc/sudoers.d/labprov-world",
        ],
    );
    assert!(out.status.success());
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 1, "{}", up.explain());
    assert_eq!(
        up.step("h1", "docker")["detail"],
        "needs root, but sudo for student asks for a password: allow it without a password (NOPASSWD) for labprov's user"
    );
    let apt = |w: &World| {
        w.calls("h1")
            .iter()
            .filter(|c| c["tool"] == "apt-get")
            .count()
    };
    assert_eq!(apt(&world), 0, "nothing privileged was attempted");
    // Positive control: once sudo works again, the same count sees Docker's install.
    let out = world.exec(
        "h1",
        None,
        &[
            "sh",
            "-c",
            "echo 'student ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/labprov-world",
        ],
    );
    assert!(out.status.success());
    let up = world.labprov(&["up"]);
    assert_eq!(up.code, 0, "{}", up.explain());
    assert!(apt(&world) > 0, "apt-get calls are counted");
}
