//! Several hosts, no shared disk: each "machine" is a network namespace made
//! by this test (`ip netns`, a veth into a bridge; root is needed), with its
//! own private directory. The only thing the machines share is the S3
//! server, which listens on the bridge in the root namespace.
//!
//! A 2-process × 2-worker job runs on machines A (process 0) and B
//! (process 1) with `--snapshot-dir s3://…`. B's process is SIGKILLed and
//! B's directory wiped (a machine lost with its disk); the job restarts on
//! three machines A, B, C; C is killed and wiped in turn; the job finishes
//! on A alone. The output (written by process 0 on A) must equal a clean
//! run's: nothing lost, nothing twice.
//!
//! Without root or `ip netns` the test fails; set
//! `TIMELY_CONNECT_SKIP_NETNS=1` to skip it on such a machine.

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use s3::S3Server;

const PARTITIONS: u32 = 4;
const MAX_MESSAGES: u64 = 30_000;
/// Every machine has its own port space: the same port on each.
const TIMELY_PORT: u16 = 2101;

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip`: {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One machine: a network namespace and a private directory.
struct Machine {
    ns: String,
    addr: Ipv4Addr,
    dir: PathBuf,
}

/// The machines and the bridge between them; removed on drop.
struct Network {
    bridge: String,
    gateway: Ipv4Addr,
    machines: Vec<Machine>,
    root: tempfile::TempDir,
}

impl Network {
    fn new(names: &[&str]) -> Network {
        let id = (std::process::id() % 10_000) as u16;
        let subnet = (id % 200) as u8 + 20;
        let bridge = format!("tcbr{id}");
        let gateway = Ipv4Addr::new(10, 213, subnet, 1);
        let root = tempdir();
        let mut net = Network {
            bridge: bridge.clone(),
            gateway,
            machines: Vec::new(),
            root,
        };
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for (i, name) in names.iter().enumerate() {
            let ns = format!("tc{id}{name}");
            let host_end = format!("tc{id}v{i}");
            let ns_end = format!("tc{id}p{i}");
            let addr = Ipv4Addr::new(10, 213, subnet, 10 + i as u8);
            ip(&["netns", "add", &ns]);
            net.machines.push(Machine {
                ns: ns.clone(),
                addr,
                dir: net.root.path().join(name),
            });
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
            ]);
            ip(&["link", "set", &ns_end, "netns", &ns]);
            ip(&["link", "set", &host_end, "master", &bridge]);
            ip(&["link", "set", &host_end, "up"]);
            let cidr = format!("{addr}/24");
            for args in [
                vec!["addr", "add", cidr.as_str(), "dev", ns_end.as_str()],
                vec!["link", "set", ns_end.as_str(), "up"],
                vec!["link", "set", "lo", "up"],
            ] {
                let mut full = vec!["netns", "exec", ns.as_str(), "ip"];
                full.extend(args);
                ip(&full);
            }
        }
        net
    }

    fn machine(&self, i: usize) -> &Machine {
        &self.machines[i]
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for m in &self.machines {
            let _ = Command::new("ip").args(["netns", "del", &m.ns]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// Gives `machine` a fresh private directory holding only the job's
/// properties file (what a new machine is provisioned with).
fn provision(machine: &Machine, props: &[(&str, &str)]) {
    let _ = std::fs::remove_dir_all(&machine.dir);
    std::fs::create_dir_all(&machine.dir).expect("machine dir");
    write_props(&machine.dir.join("job.properties"), props);
}

/// Starts one process of the job on each machine of `on` (process i on
/// `on[i]`), with a host file listing those machines.
fn start(net: &Network, on: &[usize], url: &str, env: &[(&str, &str)]) -> Vec<Proc> {
    let hosts: String = on
        .iter()
        .map(|&m| format!("{}:{TIMELY_PORT}\n", net.machine(m).addr))
        .collect();
    let mut procs = Vec::new();
    for (p, &m) in on.iter().enumerate() {
        let machine = net.machine(m);
        let hostfile = machine.dir.join("hosts.txt");
        std::fs::write(&hostfile, &hosts).expect("hostfile");
        let mut args: Vec<OsString> = args![
            "run",
            machine.dir.join("job.properties"),
            "--snapshot-dir",
            url,
            "--snapshot-interval",
            "200ms",
            "--restore",
            "latest",
            "--output",
            machine.dir.join("out.txt"),
            "--until-idle",
            "1s",
            "-w",
            "2",
        ];
        if on.len() > 1 {
            args.extend(args![
                "-n",
                on.len().to_string(),
                "-p",
                p.to_string(),
                "-h",
                &hostfile
            ]);
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &machine.ns])
            .arg(bin())
            .args(&args);
        cmd.current_dir(&machine.dir);
        procs.push(Proc::spawn_command(
            &format!("process {p} on {}", machine.ns),
            cmd,
            env,
        ));
        if p == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    procs
}

/// The epochs of the snapshot objects under `prefix`.
fn snapshot_objects(server: &S3Server, prefix: &str) -> Vec<u64> {
    let mut epochs: Vec<u64> = std::fs::read_dir(server.object_path(prefix))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix("snapshot-")?
                        .strip_suffix(".tcs")?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    epochs.sort();
    epochs
}

/// Runs until a snapshot newer than `after` is in the bucket and then a
/// little longer, SIGKILLs process `victim`, and collects the others
/// (which stop on losing their peer) or kills them too.
fn kill_one(mut procs: Vec<Proc>, victim: usize, server: &S3Server, prefix: &str, rng: &mut Rng) {
    let before = snapshot_objects(server, prefix).last().copied();
    let deadline = Instant::now() + RUN_TIMEOUT;
    while snapshot_objects(server, prefix).last().copied() == before {
        assert!(Instant::now() < deadline, "no new snapshot");
        assert!(
            !procs.iter_mut().any(|p| p.has_exited()),
            "a process ended before the kill: {:?}",
            kill_all(procs)
                .iter()
                .map(|f| f.stderr.clone())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(rng.range(100, 900)));
    let killed = procs.remove(victim);
    eprintln!("  SIGKILL {}", killed.label);
    killed.kill();
    // The survivors lose their peer and exit (or are killed after 10 s).
    for p in procs {
        let label = p.label.clone();
        match p.wait_timeout(Duration::from_secs(10)) {
            Ok(f) => eprintln!("  {label} ended by itself ({})", f.status),
            Err(_) => eprintln!("  {label} was still running; killed"),
        }
    }
}

fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8(read(path))
        .expect("utf-8 output")
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_job_on_two_machines_loses_one_with_its_disk_and_restores_on_three_then_one() {
    if std::env::var("TIMELY_CONNECT_SKIP_NETNS").is_ok_and(|v| v == "1") {
        eprintln!("skipped: TIMELY_CONNECT_SKIP_NETNS=1");
        return;
    }
    let seed = Rng::seed_from_env_or_clock();
    let mut rng = Rng::new(seed);
    eprintln!("seed {seed} (replay: TEST_SEED={seed})");
    let data_seed = rng.below(1_000_000).to_string();
    let props = [
        ("name", "multi-host"),
        ("connector.class", "Datagen"),
        ("quickstart", "orders"),
        ("partitions", "4"),
        ("max.messages", "30000"),
        ("messages.per.second", "5000"),
        ("tasks.max", "4"),
        ("seed", data_seed.as_str()),
        ("snapshot.s3.retry.timeout.ms", "5000"),
    ];

    // The reference: a clean run, one process, local snapshots.
    let clean = tempdir();
    write_props(&clean.path().join("job.properties"), &props);
    run_ok(
        &args![
            "run",
            clean.path().join("job.properties"),
            "--snapshot-dir",
            clean.path().join("snaps"),
            "--output",
            clean.path().join("out.txt"),
            "--until-idle",
            "1s",
            "-w",
            "2",
        ],
        &[],
    );
    check_datagen_output(&clean.path().join("out.txt"), MAX_MESSAGES, PARTITIONS).unwrap();

    let net = Network::new(&["a", "b", "c"]);
    let server = S3Server::start_on(
        &net.root.path().join("s3"),
        SocketAddr::new(IpAddr::V4(net.gateway), 0),
    );
    let env = server.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for m in &net.machines {
        provision(m, &props);
    }
    let prefix = "jobs/multi-host";
    let url = format!("s3://{}/{prefix}", s3::BUCKET);

    eprintln!("run 1: machines a, b");
    let procs = start(&net, &[0, 1], &url, &env);
    kill_one(procs, 1, &server, prefix, &mut rng);
    provision(net.machine(1), &props); // b's disk is gone

    eprintln!("run 2: machines a, b, c");
    let procs = start(&net, &[0, 1, 2], &url, &env);
    kill_one(procs, 2, &server, prefix, &mut rng);
    provision(net.machine(2), &props); // c's disk is gone

    eprintln!("run 3: machine a alone");
    let procs = start(&net, &[0], &url, &env);
    let finished = wait_cluster(procs, RUN_TIMEOUT);
    assert!(
        finished[0].success(),
        "the last run failed:\n{}",
        finished[0].stderr
    );

    let out = net.machine(0).dir.join("out.txt");
    if let Err(problem) = check_datagen_output(&out, MAX_MESSAGES, PARTITIONS) {
        let kept = net.root.path().to_path_buf();
        std::mem::forget(net);
        panic!("seed {seed}: {problem}\nfiles kept in {}", kept.display());
    }
    assert_eq!(
        sorted_lines(&out),
        sorted_lines(&clean.path().join("out.txt")),
        "the output differs from a clean run's"
    );
    for m in &net.machines {
        assert!(
            !m.dir.join("snapshots").exists(),
            "{} has a local snapshot directory",
            m.ns
        );
    }
}
