//! `--metrics-addr`: a running job serves Prometheus metrics with Kafka
//! Connect's source-task names, labelled by connector and task, that move
//! as the job runs; `status` prints them for a person.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[test]
fn a_running_job_serves_kafka_connect_task_metrics_that_move_and_status_prints_them() {
    let dir = tempdir();
    let props = write_props(
        &dir.path().join("gen.properties"),
        &[
            ("name", "watched"),
            ("connector.class", "Datagen"),
            ("quickstart", "users"),
            ("partitions", "2"),
            ("tasks.max", "2"),
            ("max.messages", "100000"),
            ("messages.per.second", "4000"),
        ],
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let job = Proc::spawn(
        "job",
        &args![
            "run",
            &props,
            "-w",
            "2",
            "--snapshot-dir",
            dir.path().join("snaps"),
            "--snapshot-interval",
            "200ms",
            "--output",
            dir.path().join("out.jsonl"),
            "--metrics-addr",
            &addr,
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Ok(_probe) = TcpStream::connect(&addr) {
            let body = scrape(&addr);
            if value(&body, "timely_connect_snapshot_last_epoch").is_some() {
                break body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no metrics with a snapshot in time"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(1500));
    let second = scrape(&addr);
    for task in ["0", "1"] {
        let labels = format!("{{connector=\"watched\",task=\"{task}\"}}");
        let poll = format!("kafka_connect_source_task_source_record_poll_total{labels}");
        let before = value(&first, &poll).unwrap_or_else(|| panic!("{poll} in\n{first}"));
        let after = value(&second, &poll).unwrap();
        assert!(after > before, "{poll} moved: {before} -> {after}");
        let write = format!("kafka_connect_source_task_source_record_write_total{labels}");
        assert!(value(&second, &write).unwrap() > 0.0);
        let rate = format!("kafka_connect_source_task_source_record_poll_rate{labels}");
        assert!(value(&second, &rate).unwrap() > 0.0, "{second}");
        assert!(value(
            &second,
            &format!("kafka_connect_source_task_poll_batch_avg_time_ms{labels}")
        )
        .is_some());
        assert!(
            value(
                &second,
                &format!("kafka_connect_connector_task_offset_commit_completion_total{labels}")
            )
            .unwrap()
                >= 1.0
        );
        let status = format!(
            "kafka_connect_connector_task_status{{connector=\"watched\",task=\"{task}\",status=\"running\"}}"
        );
        assert_eq!(value(&second, &status), Some(1.0), "{second}");
    }
    assert!(
        value(&second, "timely_connect_snapshot_last_epoch").unwrap()
            > value(&first, "timely_connect_snapshot_last_epoch").unwrap()
    );
    assert!(
        value(
            &second,
            "timely_connect_snapshot_last_bytes{connector=\"watched\"}"
        )
        .unwrap()
            > 0.0
    );

    let status = run_ok(&args!["status", "--metrics-addr", &addr], &[]);
    assert!(
        status.stdout.contains("connector watched"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("task 0  RUNNING"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("last snapshot  epoch"),
        "{}",
        status.stdout
    );
    job.kill();

    let gone = run_cli(&args!["status", "--metrics-addr", &addr], &[]);
    assert_eq!(gone.code(), Some(1));
    assert!(gone.stderr.contains("is it running"), "{}", gone.stderr);
}
