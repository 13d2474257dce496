//! A Prometheus endpoint for a running job (`--metrics-addr`): Kafka
//! Connect's source-task metrics, named as Kafka's JMX→Prometheus exporters
//! name them (`kafka_connect_source_task_source_record_poll_total{connector,task}`),
//! and the job's own under `timely_connect_`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use timely_connect::runtime::{JobMetrics, JobView};

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Polled totals per task a few seconds back, for the `*-rate` gauges.
#[derive(Default)]
struct Rates {
    samples: BTreeMap<usize, (Instant, u64, f64)>,
}

impl Rates {
    /// Records polled per second for `task` over the last interval of at
    /// least a second.
    fn rate(&mut self, task: usize, polled: u64) -> f64 {
        let now = Instant::now();
        match self.samples.get(&task).copied() {
            Some((at, _, rate)) if now.duration_since(at) < Duration::from_secs(1) => rate,
            Some((at, before, _)) => {
                let secs = now.duration_since(at).as_secs_f64();
                let rate = polled.saturating_sub(before) as f64 / secs;
                self.samples.insert(task, (now, polled, rate));
                rate
            }
            None => {
                self.samples.insert(task, (now, polled, 0.0));
                0.0
            }
        }
    }
}

/// Serves `GET /metrics` on `addr` from a thread of its own, for the life
/// of the process. Returns the bound address (`addr` may have port 0).
pub fn serve_metrics(addr: SocketAddr, metrics: Arc<JobMetrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let rates = Arc::new(Mutex::new(Rates::default()));
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = answer(stream, &metrics, &rates) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            }
        })?;
    Ok(bound)
}

fn answer(stream: TcpStream, metrics: &JobMetrics, rates: &Mutex<Rates>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut stream = stream;
    let path = request.split_whitespace().nth(1).unwrap_or("");
    if !request.starts_with("GET ") || (path != "/metrics" && path != "/") {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    }
    let mut rates = rates.lock().unwrap_or_else(|e| e.into_inner());
    let body = render(&metrics.view(), &mut rates);
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The metrics in Prometheus' text format.
fn render(view: &JobView, rates: &mut Rates) -> String {
    let mut registry = <Registry>::default();
    let counter = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<Labels, Counter>::default();
        registry.register(name, help, family.clone());
        family
    };
    let gauge = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<Labels, FloatGauge>::default();
        registry.register(name, help, family.clone());
        family
    };
    let poll_total = counter(
        &mut registry,
        "kafka_connect_source_task_source_record_poll",
        "Records returned by the task's poll() (Kafka: source-record-poll-total).",
    );
    let poll_rate = gauge(
        &mut registry,
        "kafka_connect_source_task_source_record_poll_rate",
        "Records polled per second, over the last interval between scrapes of at least a second (Kafka: source-record-poll-rate).",
    );
    let write_total = counter(
        &mut registry,
        "kafka_connect_source_task_source_record_write",
        "Records emitted into the dataflow after transforms (Kafka: source-record-write-total).",
    );
    let poll_avg = gauge(
        &mut registry,
        "kafka_connect_source_task_poll_batch_avg_time_ms",
        "Average time of a poll() that returned records, in ms (Kafka: poll-batch-avg-time-ms).",
    );
    let commit_total = counter(
        &mut registry,
        "kafka_connect_connector_task_offset_commit_completion",
        "Offset commits delivered to the task after a durable snapshot (Kafka: offset-commit-completion-total).",
    );
    let commit_fail = counter(
        &mut registry,
        "kafka_connect_connector_task_offset_commit_failure",
        "Offset commits that failed in commit()/commitRecord().",
    );
    let commit_avg = gauge(
        &mut registry,
        "kafka_connect_connector_task_offset_commit_avg_time_ms",
        "Average time of an offset commit, in ms (Kafka: offset-commit-avg-time-ms).",
    );
    let commit_max = gauge(
        &mut registry,
        "kafka_connect_connector_task_offset_commit_max_time_ms",
        "Slowest offset commit, in ms (Kafka: offset-commit-max-time-ms).",
    );
    let status = gauge(
        &mut registry,
        "kafka_connect_connector_task_status",
        "1 for the task's current status (Kafka: status), by status label.",
    );
    let dead = counter(
        &mut registry,
        "timely_connect_source_task_dead_letter",
        "Records sent to the dead-letter stream under errors.tolerance=all.",
    );
    for t in &view.tasks {
        let labels: Labels = vec![
            ("connector", view.connector.clone()),
            ("task", t.task.to_string()),
        ];
        poll_total.get_or_create(&labels).inc_by(t.polled);
        poll_rate
            .get_or_create(&labels)
            .set(rates.rate(t.task, t.polled));
        write_total.get_or_create(&labels).inc_by(t.written);
        poll_avg.get_or_create(&labels).set(t.poll_batch_avg_ms);
        commit_total.get_or_create(&labels).inc_by(t.commits);
        commit_fail.get_or_create(&labels).inc_by(t.commit_failures);
        commit_avg.get_or_create(&labels).set(t.commit_avg_ms);
        commit_max.get_or_create(&labels).set(t.commit_max_ms);
        dead.get_or_create(&labels).inc_by(t.dead_letters);
        let mut with_status = labels.clone();
        with_status.push(("status", t.state.to_ascii_lowercase()));
        status.get_or_create(&with_status).set(1.0);
    }
    // The tasks' own gauges (a CDC slot's lag, a snapshot's progress), one
    // family per name.
    let mut families: std::collections::BTreeMap<&str, Family<Labels, FloatGauge>> =
        std::collections::BTreeMap::new();
    for t in &view.tasks {
        for g in &t.gauges {
            let family = families.entry(g.name).or_insert_with(|| {
                gauge(
                    &mut registry,
                    &format!("timely_connect_task_{}", g.name),
                    g.help,
                )
            });
            let mut labels: Labels = vec![
                ("connector", view.connector.clone()),
                ("task", t.task.to_string()),
            ];
            labels.extend(g.labels.iter().cloned());
            family.get_or_create(&labels).set(g.value);
        }
    }
    let job: Labels = vec![("connector", view.connector.clone())];
    counter(
        &mut registry,
        "timely_connect_snapshot",
        "Snapshots this process wrote.",
    )
    .get_or_create(&job)
    .inc_by(view.snapshots);
    counter(
        &mut registry,
        "timely_connect_snapshot_failures",
        "Snapshot writes that failed in this process (each is tried again).",
    )
    .get_or_create(&job)
    .inc_by(view.snapshot_failures);
    let job_gauge = |registry: &mut Registry, name: &str, help: &str, v: f64| {
        gauge(registry, name, help).get_or_create(&job).set(v);
    };
    if let Some(epoch) = view.last_snapshot_epoch {
        job_gauge(
            &mut registry,
            "timely_connect_snapshot_last_epoch",
            "Epoch of the newest durable snapshot.",
            epoch as f64,
        );
    }
    if let Some(age) = view.last_snapshot_age_seconds {
        job_gauge(
            &mut registry,
            "timely_connect_snapshot_last_age_seconds",
            "Seconds since the newest durable snapshot was written.",
            age,
        );
    }
    job_gauge(
        &mut registry,
        "timely_connect_snapshot_last_bytes",
        "Size of the newest snapshot file.",
        view.last_snapshot_bytes as f64,
    );
    job_gauge(
        &mut registry,
        "timely_connect_snapshot_last_duration_seconds",
        "Time to write the newest snapshot (encode, fsync, publish).",
        view.last_snapshot_seconds,
    );
    job_gauge(
        &mut registry,
        "timely_connect_records_in_flight",
        "Records emitted into the dataflow that no durable snapshot covers yet.",
        view.records_in_flight as f64,
    );
    job_gauge(
        &mut registry,
        "timely_connect_restore_duration_seconds",
        "Time to read the snapshot and plan the tasks at start.",
        view.restore_seconds,
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

/// Fetches `/metrics` from a running job at `addr` (for `status`).
pub fn scrape(addr: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr)
        .map_err(|e| format!("cannot reach a job's metrics at {addr}: {e} (is it running with --metrics-addr {addr}?)"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response)
        .map_err(|e| format!("{addr}: {e}"))?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(format!(
            "{addr}: unexpected answer: {}",
            response.lines().next().unwrap_or("")
        )),
    }
}
