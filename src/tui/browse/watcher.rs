//! The watcher of the view on screen: browsing starts one per view (the account's pools, its
//! jobs with the counts of the rows on screen, a pool and its nodes, a job's tasks), each on
//! its own channel, so that nothing a former view's watcher was still reading reaches the
//! next view.

use tokio::sync::mpsc;

use crate::azure::batch::BatchClient;
use crate::tui::browse::Watching;
use crate::tui::browse::log::{WINDOW, Want};
use crate::watch::{FileWindow, PreviewTarget, Watch};
use crate::workflow::events::Event;

/// The window the log viewer wants, for the watcher.
fn window(w: &Want) -> FileWindow {
    FileWindow {
        of: w.of.clone(),
        path: w.path.clone(),
        from: w.from,
        follow: w.follow,
        window: WINDOW,
    }
}

pub struct ViewWatch {
    batch: BatchClient,
    current: Option<(Watching, Watch)>,
    rx: Option<mpsc::UnboundedReceiver<Event>>,
    previewed: Option<PreviewTarget>,
}

impl ViewWatch {
    pub fn new(batch: BatchClient) -> ViewWatch {
        ViewWatch {
            batch,
            current: None,
            rx: None,
            previewed: None,
        }
    }

    /// Watches what the view on screen needs (and the task it previews).
    pub fn sync(&mut self, want: Option<Watching>, preview: Option<PreviewTarget>) {
        let Some(want) = want else {
            self.stop();
            return;
        };
        match &mut self.current {
            Some((had, w)) if !had.needs_new_watcher(&want) => {
                if *had != want {
                    match &want {
                        Watching::Jobs(ids) => w.jobs(ids.clone()),
                        Watching::File(f) => w.file(window(f)),
                        _ => {}
                    }
                    *had = want;
                }
            }
            _ => {
                self.stop();
                let (tx, rx) = mpsc::unbounded_channel();
                let w = Watch::spawn_browsing(&self.batch, tx);
                match &want {
                    Watching::Pools => w.pools(),
                    Watching::Jobs(ids) => w.jobs(ids.clone()),
                    Watching::Pool(p) => w.pool(p),
                    Watching::Job { job, pool } => {
                        w.job(job);
                        if let Some(p) = pool {
                            w.pool(p);
                        }
                    }
                    Watching::Files(of) => w.files(of.clone()),
                    Watching::File(f) => w.file(window(f)),
                    Watching::Details(of) => w.details(of.clone()),
                }
                self.current = Some((want, w));
                self.rx = Some(rx);
            }
        }
        if preview != self.previewed
            && let Some((_, w)) = &self.current
        {
            w.preview(preview.clone());
            self.previewed = preview;
        }
    }

    /// The user acted: the view's watcher polls again at once.
    pub fn hurry(&self) {
        if let Some((_, w)) = &self.current {
            w.hurry();
        }
    }

    /// The next events of the view's watcher (as many as are ready, up to 4,096); never
    /// returns while there is none.
    pub async fn recv(&mut self) -> Vec<Event> {
        let Some(rx) = &mut self.rx else {
            return std::future::pending().await;
        };
        let Some(e) = rx.recv().await else {
            return std::future::pending().await;
        };
        let mut v = vec![e];
        while v.len() < 4096 {
            match rx.try_recv() {
                Ok(e) => v.push(e),
                Err(_) => break,
            }
        }
        v
    }

    pub fn stop(&mut self) {
        if let Some((_, w)) = self.current.take() {
            w.stop();
        }
        self.rx = None;
        self.previewed = None;
    }
}
