//! tract really computes on `threads` pool workers (Linux: per-thread CPU time from /proc).

mod common;

use std::time::{Duration, Instant};

use common::{artifact, save, value, values};
use qbench_core::{Backend, Batch, Format, LoadOptions, Session};
use qbench_onnx::{Attribute, Graph, Model, Node, TensorData};
use qbench_tract::{threads::POOL_THREAD_NAME, TractBackend};

const C: usize = 16;
const HW: usize = 64;

/// x[N,16,64,64] -> three 3x3 convs (32 channels) with Relu -> y
fn conv_heavy() -> Model {
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut prev = "x".to_string();
    let mut cin = C as i64;
    for i in 0..3 {
        let (w, b, c, r) = (
            format!("w{i}"),
            format!("b{i}"),
            format!("c{i}"),
            format!("r{i}"),
        );
        let out = if i == 2 { "y".to_string() } else { r.clone() };
        initializers.push(TensorData::from_f32(
            &w,
            vec![32, cin, 3, 3],
            &values(32 * cin as usize * 9, i),
        ));
        initializers.push(TensorData::from_f32(&b, vec![32], &values(32, 10 + i)));
        nodes.push(
            Node::new(format!("conv{i}"), "Conv", &[&prev, &w, &b], &[&c])
                .with_attr("kernel_shape", Attribute::Ints(vec![3, 3]))
                .with_attr("pads", Attribute::Ints(vec![1, 1, 1, 1])),
        );
        nodes.push(Node::new(format!("relu{i}"), "Relu", &[&c], &[&out]));
        prev = out;
        cin = 32;
    }
    let graph = Graph {
        name: "conv_heavy".into(),
        nodes,
        initializers,
        inputs: vec![value("x", &[C as i64, HW as i64, HW as i64])],
        outputs: vec![value("y", &[32, HW as i64, HW as i64])],
        value_info: vec![],
    };
    Model::new(graph, 13)
}

fn session(threads: usize) -> (tempfile::TempDir, Box<dyn Session>) {
    let dir = tempfile::tempdir().unwrap();
    let path = save(&conv_heavy(), dir.path(), "conv.onnx");
    let art = artifact(&path, Format::Fp32, C, HW, HW);
    let session = TractBackend
        .load(&art, &LoadOptions { threads, batch: 1 })
        .unwrap();
    (dir, session)
}

/// Runs the session repeatedly for about `dur`; returns the mean time per run.
fn run_for(session: &mut Box<dyn Session>, dur: Duration) -> Duration {
    let x = values(C * HW * HW, 99);
    let batch = Batch {
        data: &x,
        dims: &[1, C, HW, HW],
    };
    session.run(&batch).unwrap(); // warm-up
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < dur || runs < 3 {
        session.run(&batch).unwrap();
        runs += 1;
    }
    start.elapsed() / runs
}

/// (thread name, user+system CPU ticks) of this process's threads named like the tract pool.
#[cfg(target_os = "linux")]
fn pool_threads() -> Vec<(String, u64)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let comm = comm.trim().to_string();
        if !comm.starts_with(POOL_THREAD_NAME) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        found.push((comm, ticks));
    }
    found.sort();
    found
}

#[cfg(target_os = "linux")]
#[test]
fn two_threads_means_two_busy_pool_workers() {
    {
        let (_dir, mut one) = session(1);
        run_for(&mut one, Duration::from_millis(200));
        assert!(pool_threads().is_empty(), "threads=1 must not start a pool");
    }
    let (_dir, mut two) = session(2);
    run_for(&mut two, Duration::from_millis(1500));
    let workers = pool_threads();
    assert_eq!(workers.len(), 2, "{workers:?}");
    // The work is split: each worker did a fair share of the pool's CPU time.
    let total: u64 = workers.iter().map(|(_, t)| t).sum();
    eprintln!("pool workers (name, CPU ticks): {workers:?}");
    for (name, ticks) in &workers {
        assert!(
            *ticks > 0 && *ticks * 4 >= total,
            "pool worker {name} did little work: {workers:?}"
        );
    }
}

/// Timing comparison (best of interleaved rounds, to resist other load on the machine); run with
/// `cargo test --release -p qbench-tract --test threads -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_threads_1_vs_2() {
    let (_d1, mut one) = session(1);
    let (_d2, mut two) = session(2);
    let (mut t1, mut t2) = (Duration::MAX, Duration::MAX);
    for _ in 0..6 {
        t1 = t1.min(run_for(&mut one, Duration::from_millis(500)));
        t2 = t2.min(run_for(&mut two, Duration::from_millis(500)));
    }
    let speedup = t1.as_secs_f64() / t2.as_secs_f64();
    println!(
        "conv-heavy model: threads=1 {t1:?}/run, threads=2 {t2:?}/run, speed-up {speedup:.2}x"
    );
    assert!(speedup > 1.3, "2 threads are not faster: {speedup:.2}x");
}
