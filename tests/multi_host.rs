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
//! A second test does the same with a stateful dataflow (a differential
//! collection of upserts, its state kept per key on every worker of every
//! process): each process writes its own state segments to S3, and a
//! restore on another split reads the lost machine's segments from there.
//!
//! Without root or `ip netns` the tests fail; set
//! `TIMELY_CONNECT_SKIP_NETNS=1` to skip it on such a machine.

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::collections::BTreeMap;
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
        // Unique per network: tests of this binary run side by side.
        static NETWORKS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NETWORKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = (std::process::id() % 1000) * 10 + n % 10;
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

/// Starts process `i` of a job on machine `on[i]`, each with a host file
/// listing those machines; `command(p, machine, hostfile)` builds the
/// command a machine runs in its namespace.
fn spawn_on(
    net: &Network,
    on: &[usize],
    env: &[(&str, &str)],
    command: impl Fn(usize, &Machine, &Path) -> Command,
) -> Vec<Proc> {
    let hosts: String = on
        .iter()
        .map(|&m| format!("{}:{TIMELY_PORT}\n", net.machine(m).addr))
        .collect();
    let mut procs = Vec::new();
    for (p, &m) in on.iter().enumerate() {
        let machine = net.machine(m);
        let hostfile = machine.dir.join("hosts.txt");
        std::fs::write(&hostfile, &hosts).expect("hostfile");
        let mut cmd = command(p, machine, &hostfile);
        cmd.current_dir(&machine.dir);
        procs.push(Proc::spawn_command(
            &format!("process {p} on {}", machine.ns),
            cmd,
            env,
        ));
        if p == 0 {
            // Let process 0 listen first.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    procs
}

/// Starts the CLI job on the machines of `on` (process i on `on[i]`).
fn start(net: &Network, on: &[usize], url: &str, env: &[(&str, &str)]) -> Vec<Proc> {
    spawn_on(net, on, env, |p, machine, hostfile| {
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
                hostfile
            ]);
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &machine.ns])
            .arg(bin())
            .args(&args);
        cmd
    })
}

/// Runs until a snapshot newer than `after` is in the bucket and then a
/// little longer, SIGKILLs process `victim`, and collects the others
/// (which stop on losing their peer) or kills them too.
fn kill_one(mut procs: Vec<Proc>, victim: usize, server: &S3Server, prefix: &str, rng: &mut Rng) {
    let before = server.snapshot_epochs(prefix).last().copied();
    let deadline = Instant::now() + RUN_TIMEOUT;
    while server.snapshot_epochs(prefix).last().copied() == before {
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

/// Three machines and an S3 server on their bridge; `None` when the test
/// is to be skipped. Prints the seed.
fn setup() -> Option<(Network, S3Server, Rng, u64)> {
    if std::env::var("TIMELY_CONNECT_SKIP_NETNS").is_ok_and(|v| v == "1") {
        eprintln!("skipped: TIMELY_CONNECT_SKIP_NETNS=1");
        return None;
    }
    let seed = Rng::seed_from_env_or_clock();
    eprintln!("seed {seed} (replay: TEST_SEED={seed})");
    let net = Network::new(&["a", "b", "c"]);
    let server = S3Server::start_on(
        &net.root.path().join("s3"),
        SocketAddr::new(IpAddr::V4(net.gateway), 0),
    );
    Some((net, server, Rng::new(seed), seed))
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
    let Some((net, server, mut rng, seed)) = setup() else {
        return;
    };
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

// ------------------------------------------------------------ stateful job

/// Entries the generator plays: entry `i` sets key `k{(i * 7919) % KEYS}`
/// to `v{i}`, or deletes it when `i % 13 == 0`.
const ENTRIES: u64 = 6_000;
const KEYS: u64 = 500;

fn entry(i: u64) -> (String, Option<String>) {
    let key = format!("k{}", (i * 7919) % KEYS);
    let value = (!i.is_multiple_of(13)).then(|| format!("v{i}"));
    (key, value)
}

/// The rows the collection holds after every entry.
fn expected_rows() -> BTreeMap<(String, String), isize> {
    let mut latest: BTreeMap<String, Option<String>> = BTreeMap::new();
    for i in 0..ENTRIES {
        let (k, v) = entry(i);
        latest.insert(k, v);
    }
    latest
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| ((k, v), 1)))
        .collect()
}

mod generator {
    use std::sync::Arc;
    use std::time::Duration;

    use timely_connect::api::TaskConfig;
    use timely_connect::config::ConfigDef;
    use timely_connect::data::{Schema, SourceOffset, SourcePartition, SourceRecord, Value};
    use timely_connect::{
        ConnectError, Properties, SourceConnector, SourceTask, SourceTaskContext,
    };

    /// Plays [`super::entry`] `0..ENTRIES` as keyed upserts, 30 per poll.
    #[derive(Default)]
    pub struct Upserts;

    impl SourceConnector for Upserts {
        fn version(&self) -> String {
            "1".into()
        }
        fn config_def(&self) -> ConfigDef {
            ConfigDef::new()
        }
        fn start(&mut self, _: &Properties) -> Result<(), ConnectError> {
            Ok(())
        }
        fn task_configs(&self, _: usize) -> Result<Vec<TaskConfig>, ConnectError> {
            Ok(vec![Properties::new()])
        }
        fn create_task(&self) -> Box<dyn SourceTask> {
            Box::new(UpsertsTask::default())
        }
    }

    #[derive(Default)]
    struct UpsertsTask {
        next: u64,
        context: Option<SourceTaskContext>,
    }

    fn partition() -> SourcePartition {
        SourcePartition::single("upserts", "all")
    }

    impl SourceTask for UpsertsTask {
        fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
            self.next = context
                .offset_storage_reader()
                .offset(&partition())
                .and_then(|o| o.get_i64("i"))
                .map_or(0, |i| i as u64 + 1);
            self.context = Some(context);
            Ok(())
        }

        fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
            if self.next >= super::ENTRIES {
                if let Some(c) = &self.context {
                    c.stop_token().sleep(Duration::from_millis(50));
                }
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
            let mut batch = Vec::new();
            while batch.len() < 30 && self.next < super::ENTRIES {
                let (key, value) = super::entry(self.next);
                let mut r = SourceRecord::new(
                    partition(),
                    SourceOffset::int(&SourceOffset::key("i"), self.next as i64),
                    Arc::from("upserts"),
                    value.as_ref().map(|_| Schema::string()),
                    value.map_or(Value::Null, Value::String),
                );
                r.key_schema = Some(Schema::string());
                r.key = Value::String(key);
                batch.push(r);
                self.next += 1;
            }
            Ok(Some(batch))
        }
    }
}

/// Run by the parent inside a machine's namespace: one process of the
/// stateful job, configured by `TC_MH_*` variables.
#[test]
#[ignore = "a child process of the stateful multi-host test"]
fn child_stateful() {
    use timely_connect_operators::{ChangeCollection, ChangeFormat, ExactlyOnceChanges};
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} unset"));
    let timely_args: Vec<String> = var("TC_MH_TIMELY")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let config = timely::Config::from_args(timely_args.into_iter()).expect("timely args");
    let mut registry = timely_connect::plugins::PluginSet::builtin();
    registry.register("Upserts", &[], "keyed upserts", || {
        Box::new(generator::Upserts)
    });
    let mut props = timely_connect::Properties::new();
    for (k, v) in [("name", "upserts"), ("connector.class", "Upserts")] {
        props.insert(k.into(), v.into());
    }
    let spec = timely_connect_operators::JobSpec::new(props)
        .registry(registry)
        .snapshot_dir(var("TC_MH_SNAPSHOTS").as_str())
        .snapshot_interval(Duration::from_millis(200))
        .until_idle(Duration::from_millis(1500));
    let out = PathBuf::from(var("TC_MH_OUT"));
    let results = timely::execute(config, move |worker| {
        let job =
            timely_connect_operators::Job::prepare(worker, &spec).map_err(|e| e.to_string())?;
        worker.dataflow::<u64, _, _>(|scope| {
            use timely_connect_operators::{Checkpoint, ConnectSource};
            let source = scope.connect_source(&job);
            let changes = source.records.change_collection::<String, String>(
                &job,
                "rows",
                ChangeFormat::Upsert,
            );
            let written = changes
                .collection
                .exactly_once_changes(&job, &out, "rows_out", None);
            scope.checkpoint(&job, vec![source.parts, changes.parts, written]);
        });
        job.run(worker).map_err(|e| e.to_string())
    })
    .expect("timely")
    .join();
    for r in results {
        r.expect("worker panicked").expect("job failed");
    }
}

/// Starts the stateful job (this binary's `child_stateful`) on the
/// machines of `on`.
fn start_stateful(net: &Network, on: &[usize], url: &str, env: &[(&str, &str)]) -> Vec<Proc> {
    let processes = on.len();
    spawn_on(net, on, env, |p, machine, hostfile| {
        let timely = if processes > 1 {
            format!("-w 2 -n {processes} -p {p} -h {}", hostfile.display())
        } else {
            "-w 2".to_owned()
        };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &machine.ns])
            .arg(std::env::current_exe().expect("test binary"))
            .args(["--ignored", "--exact", "child_stateful", "--nocapture"])
            .env("TC_MH_TIMELY", timely)
            .env("TC_MH_SNAPSHOTS", url)
            .env("TC_MH_OUT", machine.dir.join("rows.jsonl"));
        cmd
    })
}

/// The change file replayed: rows with a non-zero count.
fn replay(path: &Path) -> BTreeMap<(String, String), isize> {
    let mut rows: BTreeMap<(String, String), isize> = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let j: serde_json::Value = serde_json::from_str(line).expect("json line");
        let row = (
            j["row"][0].as_str().expect("key").to_owned(),
            j["row"][1].as_str().expect("value").to_owned(),
        );
        let n = rows.entry(row).or_default();
        *n += j["diff"].as_i64().expect("diff") as isize;
        assert!((0..=1).contains(n), "a row counted {n}: {line}");
    }
    rows.retain(|_, d| *d != 0);
    rows
}

#[test]
fn a_stateful_job_loses_a_machine_and_its_state_files_come_back_from_s3() {
    let Some((net, server, mut rng, _)) = setup() else {
        return;
    };
    let env = server.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for m in &net.machines {
        provision(m, &[]);
    }
    let prefix = "jobs/stateful";
    let url = format!("s3://{}/{prefix}", s3::BUCKET);

    eprintln!("run 1: machines a, b");
    let procs = start_stateful(&net, &[0, 1], &url, &env);
    kill_one(procs, 1, &server, prefix, &mut rng);
    provision(net.machine(1), &[]);
    // Process 1 wrote state segments of its own workers' keys to S3.
    let segments = |prefix: &str| -> Vec<String> {
        std::fs::read_dir(server.object_path(&format!("{prefix}/state/rows")))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let from_process_1 = segments(prefix)
        .iter()
        .filter(|n| n.contains("-w2.") || n.contains("-w3."))
        .count();
    assert!(
        from_process_1 > 0,
        "no state segment of process 1's workers: {:?}",
        segments(prefix)
    );

    eprintln!("run 2: machines a, b, c");
    let procs = start_stateful(&net, &[0, 1, 2], &url, &env);
    kill_one(procs, 2, &server, prefix, &mut rng);
    provision(net.machine(2), &[]);

    eprintln!("run 3: machine a alone");
    let procs = start_stateful(&net, &[0], &url, &env);
    let finished = wait_cluster(procs, RUN_TIMEOUT);
    assert!(
        finished[0].success(),
        "the last run failed:\n{}",
        finished[0].stderr
    );

    let rows = replay(&net.machine(0).dir.join("rows.jsonl"));
    let expected = expected_rows();
    assert_eq!(
        rows.len(),
        expected.len(),
        "rows: got {}, want {}",
        rows.len(),
        expected.len()
    );
    assert!(
        rows == expected,
        "the collection differs from the entries' last values"
    );
}
