//! What the README promises about the command line: `-v`/`-q`, `--hosts A,B`, the roster's
//! `user` and `port` columns, `extends` by a relative path, and `render` contacting nothing.

mod common;
mod support;

use std::path::Path;
use std::time::Duration;

use common::{Run, UP_STEPS, World, labprov};
use support::{address, calls_with, connection_attempts, labprov_plain, poll};

/// Steps a fresh world host changes on its first `up` (facts only checks; dns finds the
/// node resolving once the cluster is up).
const CHANGED_ON_A_FRESH_HOST: [&str; 8] = [
    "docker",
    "minikube",
    "kubectl",
    "istioctl",
    "cluster",
    "addons",
    "istio",
    "manifests",
];

fn journals(world: &World) -> usize {
    std::fs::read_dir(world.dir.join("controller-state/labprov/runs"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn has_line(run: &Run, prefix: &str) -> bool {
    run.stdout.lines().any(|l| l.starts_with(prefix))
}

#[test]
fn quiet_drops_the_facts_and_journal_lines_and_verbose_adds_ok_steps_and_phases() {
    let world = World::start(1);
    let facts = "h1: ubuntu 24.04 (noble) amd64, 2 CPUs,";

    // -q on a fresh host: what changed is still shown, with the summary table.
    let quiet = labprov_plain(&world, &world.profile, &["-q", "up"]);
    assert_eq!(quiet.code, 0, "{}", quiet.explain());
    for step in CHANGED_ON_A_FRESH_HOST {
        assert!(
            has_line(&quiet, &format!("h1: {step} changed (")),
            "-q still shows {step} changing:\n{}",
            quiet.stdout
        );
    }
    assert!(
        quiet.stdout.contains("\n1 host(s), 0 failed, in "),
        "{}",
        quiet.stdout
    );
    assert!(!quiet.stdout.contains(facts), "{}", quiet.stdout);
    assert!(!has_line(&quiet, "journal: "), "{}", quiet.stdout);
    assert!(!quiet.stdout.contains(" ok ("), "{}", quiet.stdout);
    assert_eq!(
        journals(&world),
        1,
        "-q hides the journal's path, not the journal"
    );

    // Default, converged: the host's facts and the journal's path; steps that were already
    // fine are not listed.
    let normal = labprov_plain(&world, &world.profile, &["up"]);
    assert_eq!(normal.code, 0, "{}", normal.explain());
    assert!(has_line(&normal, facts), "{}", normal.stdout);
    let journal = normal
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("journal: "))
        .unwrap_or_else(|| panic!("no journal line:\n{}", normal.stdout));
    assert!(Path::new(journal).is_file(), "{journal}");
    assert!(
        normal.stdout.contains("\nh1      10        0       0  \n"),
        "{}",
        normal.stdout
    );
    for step in UP_STEPS {
        assert!(
            !has_line(&normal, &format!("h1: {step} ")),
            "{step} is listed without -v:\n{}",
            normal.stdout
        );
    }
    assert!(!has_line(&normal, "h1: connecting"), "{}", normal.stdout);

    // -v: every step that was fine, and what the host is doing.
    let verbose = labprov_plain(&world, &world.profile, &["-v", "up"]);
    assert_eq!(verbose.code, 0, "{}", verbose.explain());
    for line in ["h1: connecting", "h1: checking", facts, "journal: "] {
        assert!(
            has_line(&verbose, line),
            "-v lacks {line:?}:\n{}",
            verbose.stdout
        );
    }
    for step in UP_STEPS {
        assert!(
            has_line(&verbose, &format!("h1: {step} ok (")),
            "-v lists {step}:\n{}",
            verbose.stdout
        );
    }
}

#[test]
fn hosts_flag_reaches_exactly_the_addresses_given() {
    let world = World::start(2);
    let (a1, a2) = (address(&world, 1), address(&world, 2));
    let seen = |h: &str| connection_attempts(&world, h);
    let before = (seen("h1"), seen("h2"));

    let both = world.labprov(&["status", "--hosts", &format!("{a1},{a2}")]);
    assert_eq!(both.code, 0, "{}", both.explain());
    let hosts: Vec<&String> = both.summary()["hosts"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        hosts,
        [&a1, &a2],
        "the addresses stand for the profile's h1, h2"
    );
    for a in [&a1, &a2] {
        assert_eq!(both.states(a).len(), UP_STEPS.len(), "{}", both.explain());
    }
    let after_both = poll(
        "both hosts to log the contact",
        Duration::from_secs(30),
        || {
            let now = (seen("h1"), seen("h2"));
            (now.0 > before.0 && now.1 > before.1).then_some(now)
        },
    );

    let one = world.labprov(&["status", "--hosts", &a2]);
    assert_eq!(one.code, 0, "{}", one.explain());
    let hosts: Vec<&String> = one.summary()["hosts"].as_object().unwrap().keys().collect();
    assert_eq!(hosts, [&a2]);
    assert_eq!(one.states(&a2).len(), UP_STEPS.len(), "{}", one.explain());
    poll("h2 to log the contact", Duration::from_secs(30), || {
        (seen("h2") > after_both.1).then_some(())
    });
    assert_eq!(
        seen("h1"),
        after_both.0,
        "h1 was not given, so not contacted"
    );
}

#[test]
fn roster_user_and_port_columns_are_used_for_their_host() {
    let world = World::start(1);
    let a = address(&world, 1);
    let roster = |row: &str| {
        let path = world.dir.join("class.csv");
        std::fs::write(&path, format!("name,address,user,port\n{row}\n")).unwrap();
        path
    };

    // The user column replaces the profile's `student`: a user the host does not know is
    // refused, and the error names that user.
    let r = roster(&format!("anna,{a},mallory,22"));
    let wrong_user = world.labprov(&["status", "--hosts-file", r.to_str().unwrap()]);
    assert_eq!(wrong_user.code, 1, "{}", wrong_user.explain());
    let detail = wrong_user.step("anna", "connect")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.starts_with(&format!("cannot connect to mallory@{a}:22: "))
            && detail.contains("Permission denied"),
        "{detail}"
    );
    assert!(world.sshd_log("h1").contains("Invalid user mallory from"));

    // The port column: nothing listens on 2222, and that is the port the bastion was asked
    // to reach.
    let r = roster(&format!("anna,{a},student,2222"));
    let wrong_port = world.labprov(&["status", "--hosts-file", r.to_str().unwrap()]);
    assert_eq!(wrong_port.code, 1, "{}", wrong_port.explain());
    let detail = wrong_port.step("anna", "connect")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.starts_with(&format!("cannot connect to student@{a}:2222: ")),
        "{detail}"
    );
    poll(
        "the bastion to log the forward to port 2222",
        Duration::from_secs(30),
        || {
            world
                .sshd_log("bastion")
                .contains(&format!("connect_to {a} port 2222: failed"))
                .then_some(())
        },
    );

    // root in the user column, on a profile whose ssh.user is student: the host is
    // provisioned as root, so minikube's docker driver gets --force.
    let r = roster(&format!("anna,{a},root,22"));
    let up = world.labprov(&["up", "--hosts-file", r.to_str().unwrap()]);
    assert_eq!(up.code, 0, "{}", up.explain());
    let n = up.steps_of("anna");
    assert_eq!(up.tally("anna"), (2, n - 2, 0), "{}", up.explain());
    assert!(
        world
            .sshd_log("h1")
            .contains("Accepted publickey for root from")
    );
    let starts = calls_with(&world, "h1", "minikube", "start");
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(starts[0]["uid"], 0, "{}", starts[0]);
    assert_eq!(starts[0]["exit"], 0, "{}", starts[0]);
    assert!(
        starts[0]["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "--force"),
        "{}",
        starts[0]
    );
}

/// Render a profile from `cwd` in plain output.
fn render(cwd: &Path, profile: &Path, out: &Path) -> Run {
    Run::new(
        labprov()
            .current_dir(cwd)
            .arg("--profile")
            .arg(profile)
            .args(["--output", "plain", "render", "--out"])
            .arg(out)
            .output()
            .unwrap(),
    )
}

#[test]
fn extends_takes_a_path_relative_to_the_profile_that_says_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("profiles/class")).unwrap();
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    std::fs::write(
        d.join("profiles/base.toml"),
        "extends = \"crownlabs\"\n[cluster]\ncpus = 3\nmemory = \"5g\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("profiles/class/lab.toml"),
        "extends = \"../base.toml\"\n[cluster]\nmemory = \"6g\"\n",
    )
    .unwrap();
    // A decoy where a path taken relative to the working directory would land.
    std::fs::write(
        d.join("base.toml"),
        "[cluster]\ncpus = 7\nmemory = \"7g\"\n",
    )
    .unwrap();

    for (cwd, profile) in [
        (d.join("elsewhere"), d.join("profiles/class/lab.toml")),
        (d.join("profiles/class"), "lab.toml".into()),
        (d.to_path_buf(), "profiles/class/lab.toml".into()),
    ] {
        let out = tempfile::tempdir().unwrap();
        let run = render(&cwd, &profile, out.path());
        assert_eq!(run.code, 0, "{cwd:?} {profile:?}: {}", run.explain());
        let cluster = std::fs::read_to_string(out.path().join("apply/05-cluster.sh")).unwrap();
        assert!(
            cluster.contains("extra+=(--cpus=3)\nextra+=(--memory=6144mb)"),
            "cpus from ../base.toml, memory from the profile itself ({cwd:?} {profile:?}):\n{cluster}"
        );
    }

    // A relative path that does not exist next to the profile is an input error naming it.
    std::fs::write(
        d.join("profiles/class/broken.toml"),
        "extends = \"../missing.toml\"\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = render(d, Path::new("profiles/class/broken.toml"), out.path());
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(
        run.stderr
            .contains("profiles/class/broken.toml: cannot extend `../missing.toml`: no such file"),
        "{}",
        run.stderr
    );
}

#[test]
fn render_contacts_no_host_and_not_the_bastion() {
    let world = World::start(1);
    let seen = || {
        (
            connection_attempts(&world, "bastion"),
            connection_attempts(&world, "h1"),
        )
    };
    let before = seen();

    // The counters see a run that does contact the hosts.
    let status = world.labprov(&["status"]);
    assert_eq!(status.code, 0, "{}", status.explain());
    let contacted = poll(
        "the bastion and h1 to log the status run",
        Duration::from_secs(30),
        || {
            let now = seen();
            (now.0 > before.0 && now.1 > before.1).then_some(now)
        },
    );

    let out = tempfile::tempdir().unwrap();
    let run = render(&world.dir, &world.profile, out.path());
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        run.stdout.starts_with("wrote ")
            && run
                .stdout
                .ends_with(&format!(" files to {}\n", out.path().display())),
        "{}",
        run.stdout
    );
    let check = std::fs::read_to_string(out.path().join("check.sh")).unwrap();
    assert!(
        std::fs::read_to_string(out.path().join("apply/03-kubectl.sh"))
            .unwrap()
            .contains(&format!("http://10.210.{}.2:8080/kubectl/", world.id)),
        "rendered from this world's profile"
    );
    assert!(check.contains("::begin"), "{check}");
    assert_eq!(seen(), contacted, "render opened no connection");
}
