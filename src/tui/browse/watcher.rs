//! The watcher of the view on screen: browsing starts one per view (the account's pools, its
//! jobs with the counts of the rows on screen, a pool and its nodes, a job's tasks), each on
//! its own channel, so that nothing a former view's watcher was still reading reaches the
//! next view. It also runs the log viewer's search over the whole file (one at a time).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::azure::batch::BatchClient;
use crate::tui::app::Msg;
use crate::tui::browse::Watching;
use crate::tui::browse::log::{WINDOW, Want};
use crate::tui::browse::search::{self, Ask, Needle, News};
use crate::watch::{FileWindow, PreviewTarget, Watch};
use crate::workflow::controller::{file_len, read_range};
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
    /// The search running, and what stops it.
    search: Option<(Ask, Arc<AtomicBool>)>,
    search_tx: mpsc::UnboundedSender<Msg>,
    search_rx: mpsc::UnboundedReceiver<Msg>,
}

impl ViewWatch {
    pub fn new(batch: BatchClient) -> ViewWatch {
        let (search_tx, search_rx) = mpsc::unbounded_channel();
        ViewWatch {
            batch,
            current: None,
            rx: None,
            previewed: None,
            search: None,
            search_tx,
            search_rx,
        }
    }

    /// Runs the search the log viewer asks for: a new one stops the one before; `None`
    /// (Esc, another view, the search ended) stops it.
    pub fn search(&mut self, ask: Option<&Ask>) {
        if self.search.as_ref().map(|(a, _)| a) == ask {
            return;
        }
        if let Some((_, stop)) = self.search.take() {
            stop.store(true, Ordering::Relaxed);
        }
        let Some(ask) = ask.cloned() else {
            return;
        };
        let stop = Arc::new(AtomicBool::new(false));
        self.search = Some((ask.clone(), stop.clone()));
        let batch = self.batch.clone();
        let tx = self.search_tx.clone();
        tokio::spawn(async move {
            let id = ask.id;
            let news = |news| Msg::Search { id, news };
            let done = run_search(&batch, &ask, |searched, total| {
                !stop.load(Ordering::Relaxed)
                    && tx.send(news(News::Progress { searched, total })).is_ok()
            })
            .await;
            let _ = tx.send(news(News::Done(done.map_err(|e| e.to_string()))));
        });
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

    /// The next events of the view's watcher (as many as are ready, up to 4,096), or news
    /// of the search; never returns while there is none.
    pub async fn recv(&mut self) -> Vec<Msg> {
        let events = async {
            let Some(rx) = &mut self.rx else {
                return std::future::pending().await;
            };
            let Some(e) = rx.recv().await else {
                return std::future::pending().await;
            };
            let mut v = vec![Msg::Event(e)];
            while v.len() < 4096 {
                match rx.try_recv() {
                    Ok(e) => v.push(Msg::Event(e)),
                    Err(_) => break,
                }
            }
            v
        };
        tokio::select! {
            v = events => v,
            Some(m) = self.search_rx.recv() => vec![m],
        }
    }

    pub fn stop(&mut self) {
        self.search(None);
        if let Some((_, w)) = self.current.take() {
            w.stop();
        }
        self.rx = None;
        self.previewed = None;
    }
}

/// Searches the file `ask` names by ranges read with [`read_range`] (as the viewer's windows
/// and downloads are), telling `progress(searched, total)` after each (false stops it).
pub async fn run_search(
    batch: &BatchClient,
    ask: &Ask,
    mut progress: impl FnMut(u64, u64) -> bool,
) -> Result<search::Found, crate::azure::batch::BatchError> {
    let Some(needle) = Needle::new(&ask.pattern) else {
        return Ok(search::Found::Nowhere);
    };
    let len = file_len(batch, &ask.of, &ask.path).await?;
    let total = if ask.forward {
        len.saturating_sub(ask.from)
    } else {
        ask.from.min(len)
    };
    if !progress(0, total) {
        return Ok(search::Found::Cancelled);
    }
    // A file that grew by the time the search reaches its end is searched to its new end.
    let total = &AtomicU64::new(total);
    let (of, path, from) = (&ask.of, ask.path.as_str(), ask.from);
    let read = |a, b| async move { read_range(batch, of, path, a, b).await.map(Vec::from) };
    let len_now = || async move {
        let now = file_len(batch, of, path).await?;
        total.fetch_max(now.saturating_sub(from), Ordering::Relaxed);
        Ok(now)
    };
    let req = search::Request {
        needle: &needle,
        len,
        from,
        forward: ask.forward,
        range: search::RANGE,
    };
    search::search(req, read, len_now, |n| {
        progress(n, total.load(Ordering::Relaxed))
    })
    .await
}
