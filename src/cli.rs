//! Command-line types only; [`crate::run`] turns them into work.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::report::OutputMode;

/// Build the "Kubernetes Network Policies and Service Meshes" lab environment from one profile.
#[derive(Debug, Parser)]
#[command(name = "labprov", version, about, propagate_version = true)]
pub struct Cli {
    /// Profile file, or the name of a built-in profile (local, crownlabs, vagrant).
    /// Default: ./labprov.toml if present, else the built-in `local`.
    #[arg(long, global = true, value_name = "FILE")]
    pub profile: Option<String>,

    /// How to print: a live view (human, the default on a terminal), plain lines, or JSON Lines.
    #[arg(long, global = true, value_enum, default_value_t = OutputMode::Human)]
    pub output: OutputMode,

    /// More detail (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less detail (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,

    /// Go ahead with versions that do not support each other (an Istio release on a
    /// Kubernetes it does not support, kubectl more than one minor from the cluster); the
    /// profile check then only warns.
    #[arg(long, global = true)]
    pub allow_unsupported: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args, Clone, Default)]
pub struct Targets {
    /// Only these hosts (names from the profile), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub limit: Vec<String>,

    /// Use these addresses instead of the profile's hosts, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "ADDR,...",
        conflicts_with = "hosts_file"
    )]
    pub hosts: Vec<String>,

    /// Use the hosts of a roster: one address per line, or CSV `name,address[,user[,port]]`.
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<std::path::PathBuf>,

    /// Only the hosts that failed or were interrupted in the runs since the last clean one
    /// (from their journals; verify reads its own).
    #[arg(long)]
    pub only_failed: bool,

    /// up, down, reset, apply: refuse a host whose lock another run holds, instead of
    /// waiting for it (up to the profile's run.lock_timeout).
    #[arg(long)]
    pub no_wait: bool,

    /// How many hosts to provision at once (default: the profile's run.parallel, 16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=512))]
    pub parallel: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Converge every host: install what is missing, start what is stopped.
    Up {
        #[command(flatten)]
        targets: Targets,
    },
    /// Check every host and show what `up` would change; changes nothing.
    Plan {
        #[command(flatten)]
        targets: Targets,
        /// Exit 0 when nothing would change, 2 when `up` would change something, 1 when a
        /// host is blocked or could not be checked (Terraform's `plan -detailed-exitcode`).
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Show each step's state on every host.
    Status {
        #[command(flatten)]
        targets: Targets,
    },
    /// Converge only the lab's manifests: the given bundles, or all of the profile's.
    Apply {
        /// Bundles to converge (default: the profile's `lab.bundles`, pruning the rest).
        #[arg(value_name = "BUNDLE")]
        bundles: Vec<String>,
        /// Remove these bundles' objects instead.
        #[arg(long, value_name = "BUNDLE", num_args = 1.., conflicts_with = "bundles")]
        remove: Vec<String>,
        #[command(flatten)]
        targets: Targets,
    },
    /// Remove what `up` made, in reverse order: lab objects, Istio, the cluster.
    Down {
        /// Also remove minikube, kubectl, the Istio release and labprov's state on the host.
        #[arg(long)]
        purge: bool,
        /// Also remove Docker Engine and its apt source (the user stays in group docker).
        #[arg(long)]
        purge_docker: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        targets: Targets,
    },
    /// Give hosts a fresh cluster: `down` of the cluster and lab objects, then `up`.
    Reset {
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        targets: Targets,
    },
    /// Prove that the lab works: run each check of the lab guide's expected outcomes on every
    /// host (probes from pods); exit 0 when every selected check passes, 1 when one fails.
    Verify {
        /// Checks to run (default: all); `--list` names them.
        #[arg(value_name = "CHECK")]
        checks: Vec<String>,
        /// List the checks, with the guide section each comes from, and exit.
        #[arg(long)]
        list: bool,
        #[command(flatten)]
        targets: Targets,
    },
    /// Find what would make `up` fail, before it starts; changes nothing.
    ///
    /// Read-only checks of every host in one round trip each (OS, resources, cgroup v2, sudo,
    /// docker group, DNS and HTTPS to every download and registry, routes, clock, versions;
    /// the jump host for a batch), each `ok`, `warn` or `fail` with a one-line fix; exit 0
    /// when nothing fails, 1 otherwise.
    Doctor {
        #[command(flatten)]
        targets: Targets,
    },
    /// Open the lab's dashboards, the ingress gateway and hello-node on 127.0.0.1, through the
    /// jump host (or on this machine with the local profile), and keep them open until Ctrl-C.
    Tunnel {
        /// Services: dashboard, kiali, grafana, jaeger, prometheus, gateway, hello-node, ssh
        /// (default: all but ssh).
        #[arg(value_name = "SERVICE")]
        services: Vec<String>,
        /// Also forward LOCAL_PORT:REMOTE_HOST:REMOTE_PORT (REMOTE_HOST as the VM sees it).
        #[arg(long = "forward", value_name = "LOCAL:HOST:PORT")]
        forwards: Vec<crate::tunnel::CustomForward>,
        /// Seconds between health checks of every forward.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=300))]
        check_every: u64,
        #[command(flatten)]
        targets: Targets,
    },
    /// Write the scripts up, apply, verify, doctor and tunnel send to a host into DIR (not
    /// down's undo scripts); contacts nothing.
    Render {
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Keep credentials in URLs as the hosts get them (by default `https://***@...`).
        #[arg(long)]
        show_secrets: bool,
    },
    /// Write one self-contained HTML page of the class from the run journals: a hosts ×
    /// steps matrix of each host's latest run, why each failure failed, the runs' history and
    /// the step durations. It loads nothing from the network.
    Report {
        /// Where to write it (default: report.html beside the journals,
        /// $XDG_STATE_HOME/labprov/report.html).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only the runs that finished within this long (e.g. 2h, 3d).
        #[arg(long, value_name = "DURATION", conflicts_with = "runs")]
        since: Option<humantime::Duration>,
        /// Only the last N runs (default: the last 50, unless --since is given).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        runs: Option<u32>,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}
