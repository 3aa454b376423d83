//! The controller against the in-process emulator: a change in flight is listed by `busy()`
//! (the TUI's "working" sign) until it ends, reads are not; a downloaded output file is read
//! again for the preview.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use batchdeck::azure::batch::BatchClient;
use batchdeck::azure::storage::StorageClient;
use batchdeck::emulator::{Emulator, EmulatorConfig};
use batchdeck::workflow::controller::{Command, Controller};
use batchdeck::workflow::events::Event;
use batchdeck::workflow::steps::Clients;
use tokio::sync::mpsc;

async fn controller(
    dir: &std::path::Path,
) -> (Emulator, Controller, mpsc::UnboundedReceiver<Event>) {
    let emu = Emulator::start(EmulatorConfig::new(dir))
        .await
        .expect("emulator");
    let clients = Clients {
        batch: BatchClient::new(
            url::Url::parse(&emu.batch_endpoint).unwrap(),
            emu.config.batch_account.clone(),
        )
        .unwrap(),
        storage: StorageClient::new(
            url::Url::parse(&emu.blob_endpoint).unwrap(),
            emu.config.storage_account.clone(),
        )
        .unwrap(),
        service: "test".into(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    (emu, Controller::new(Arc::new(clients), tx), rx)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("the channel is open")
}

// One thread: what `submit` spawns runs only once the test awaits, so `busy()` right after
// `submit` sees both requests in flight.
#[tokio::test(flavor = "current_thread")]
async fn busy_lists_the_changes_in_flight_until_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(dir.path()).await;
    assert!(c.busy().is_empty());
    c.submit(Command::NodeStderr {
        pool_id: "nopool".into(),
        node_id: "n".into(),
    });
    c.submit(Command::DeleteJob("nojob".into()));
    assert_eq!(
        c.busy(),
        vec!["delete job nojob".to_string()],
        "reads are not listed"
    );
    // It ends (the job does not exist: a failure, or "deleted" where a 404 counts as gone),
    // and then it is no longer in flight.
    loop {
        match next_event(&mut rx).await {
            Event::CommandFailed { what, .. } if what == "delete job nojob" => break,
            Event::Deleted(r) if r.to_string().contains("nojob") => break,
            _ => {}
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.busy().is_empty() {
        assert!(Instant::now() < deadline, "still busy: {:?}", c.busy());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_file_is_read_again_for_the_preview() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(&dir.path().join("emu")).await;
    let path = dir.path().join("task1_OUTPUT.txt");
    std::fs::write(&path, "the 47\nand 17\n").unwrap();
    c.submit(Command::ReadOutput {
        task_id: "task1".into(),
        path: path.clone(),
    });
    loop {
        if let Event::Output {
            task_id,
            path: p,
            text,
        } = next_event(&mut rx).await
        {
            assert_eq!(
                (task_id.as_str(), p, text.as_str()),
                ("task1", path, "the 47\nand 17\n")
            );
            break;
        }
    }
    emu.shutdown().await;
}

/// `F` and `d`: failed tasks reactivated together; a task's files (its working directory's
/// included) downloaded into a directory, each named as the service names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tasks_are_reactivated_together_and_a_task_s_files_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(&dir.path().join("emu")).await;
    let b = common::batch_client(&emu.batch_endpoint);
    common::create_pool(&b, "p", 1, 2).await;
    let cmd = "/bin/sh -c 'echo out; echo err >&2; mkdir -p res; echo data > res/r.txt; exit 3'";
    common::create_job_with_tasks(&b, "j", "p", &[("a", cmd), ("b", cmd)]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.task_counts("j").await.unwrap().task_counts.failed < 2 {
        assert!(Instant::now() < deadline, "the tasks did not fail in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = dir.path().join("files/b");
    c.submit(Command::DownloadTaskFiles {
        job_id: "j".into(),
        task_id: "b".into(),
        dir: out.clone(),
    });
    loop {
        if let Event::TaskFilesDownloaded { task_id, files, .. } = next_event(&mut rx).await {
            assert_eq!(task_id, "b");
            assert!(files >= 3, "{files} files");
            break;
        }
    }
    assert_eq!(
        std::fs::read_to_string(out.join("stdout.txt")).unwrap(),
        "out\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("stderr.txt")).unwrap(),
        "err\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("wd/res/r.txt")).unwrap(),
        "data\n"
    );
    c.submit(Command::ReactivateTasks {
        job_id: "j".into(),
        task_ids: vec!["a".into(), "b".into()],
    });
    loop {
        if let Event::Reactivated { task_ids } = next_event(&mut rx).await {
            assert_eq!(task_ids, ["a", "b"]);
            break;
        }
    }
    emu.shutdown().await;
}
