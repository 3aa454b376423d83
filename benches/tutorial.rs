//! Target 6: the tutorial, headless, on the embedded local Azure with zero boot delay, from
//! start to exit, against running its three task processes directly, all three at once (as
//! the pool's nodes run them). The median of five runs each.
//!
//! cargo bench --bench tutorial

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let runs = if common::benchmarking() { 5 } else { 1 };
    let dir = tempfile::tempdir().unwrap();
    let mut ours = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let st = Command::new(env!("CARGO_BIN_EXE_batchdeck"))
            .args([
                "run",
                "--headless",
                "--node-boot-delay",
                "0",
                "--allocation-delay",
                "0",
            ])
            .args(["--delete-job", "--delete-pool", "--force"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--output-dir")
            .arg(dir.path().join(format!("out{i}")))
            .current_dir(common::ROOT)
            .env_remove("BATCHDECK_EMULATOR_FAULTS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("run batchdeck");
        ours.push(t.elapsed());
        assert!(st.success());
    }
    let mut direct = Vec::new();
    for i in 0..runs {
        let t = Instant::now();
        let children: Vec<_> = (1..=3)
            .map(|n| {
                Command::new("python3")
                    .arg(format!("{}/assets/topwords.py", common::ROOT))
                    .arg("--filepath")
                    .arg(format!("{}/data/taskdata{n}.txt", common::ROOT))
                    .args(["--numwords", "3", "--output"])
                    .arg(dir.path().join(format!("direct{i}-{n}.txt")))
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("python3")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().expect("python3").success());
        }
        direct.push(t.elapsed());
    }
    let (o, d): (Duration, Duration) = (common::median(ours), common::median(direct));
    let ratio = o.as_secs_f64() / d.as_secs_f64();
    common::result(
        "6",
        "the tutorial headless on the embedded emulator (vs its 3 task processes run directly, at once)",
        common::secs(o),
        common::secs(d),
        ratio,
        "<= 3x the time",
        ratio <= 3.0,
    );
}
