//! Config watching: the files a config names, and the task that reloads when one of them
//! changes, so that a Kubernetes Secret or ConfigMap rotated under a running sidecar (the
//! kubelet swaps a `..data` symlink) or a file an editor saves applies without a SIGHUP.
//!
//! This module owns the `notify` watcher and its debounce. It watches the *folders* holding
//! the files, not the files: a symlink swap or an editor's rename replaces the file, and a
//! watch on the old inode would see nothing. An event counts when its file name is one of
//! the watched files' names, or starts with `..` (the kubelet's `..data` and timestamped
//! folders). Half a second after the last such event it runs the reload SIGHUP runs
//! ([`crate::reload::reload`]), then watches the files of the config now in force.
//!
//! The `notify` thread only forwards events into a channel; the tokio task filters,
//! debounces and reloads. Dropping [`Watching`] ends the task, which drops the watcher and so
//! stops its thread.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{Event, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::proxy::Proxy;
use crate::reload::{reload_config, Trigger};

/// How long after the last event a reload waits: a write in several pieces, or the
/// kubelet's several renames, make one reload.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// The running watcher; dropping it stops watching.
pub struct Watching {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watching {
    /// Starts watching `named` (the files of the config in force, see [`crate::reload::files`]; the config
    /// file is `path`) and reloading `path` into `proxy` when one changes. `named` also
    /// brings the files of a config that a SIGHUP applied.
    ///
    /// # Errors
    /// The platform's watcher cannot be created (on Linux: the inotify instance limit).
    pub fn start(
        path: PathBuf,
        proxy: Arc<Proxy>,
        named: watch::Receiver<Vec<PathBuf>>,
    ) -> notify::Result<Watching> {
        let (tx, rx) = mpsc::unbounded_channel();
        // The watcher's own thread: hand each event over, nothing else.
        let watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })?;
        let task = tokio::spawn(run(watcher, rx, path, proxy, named));
        Ok(Watching { task })
    }
}

/// The watched files, and the folders watched for them.
#[derive(Default)]
struct Watched {
    files: BTreeSet<PathBuf>,
    folders: BTreeSet<PathBuf>,
}

impl Watched {
    /// Watches the folders of `files` (made absolute, symlinks kept), and stops watching
    /// the folders no longer needed. A folder that cannot be watched is logged and left out.
    fn set(&mut self, watcher: &mut RecommendedWatcher, files: &[PathBuf]) {
        let files: BTreeSet<PathBuf> = files.iter().filter_map(|f| absolute(f)).collect();
        let folders: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        for gone in self.folders.difference(&folders) {
            // A folder that was removed is no longer watched anyway.
            let _ = watcher.unwatch(gone);
        }
        let mut watching = BTreeSet::new();
        for folder in folders {
            if !self.folders.contains(&folder) {
                if let Err(e) = watcher.watch(&folder, RecursiveMode::NonRecursive) {
                    tracing::warn!(folder = %folder.display(), error = %e, "cannot watch this folder: reload its files with SIGHUP");
                    continue;
                }
            }
            watching.insert(folder);
        }
        self.files = files;
        self.folders = watching;
    }

    /// Whether an event on `path` concerns a watched file: its own name, or a `..` name
    /// (the kubelet's `..data` swap) in a watched folder.
    fn concerns(&self, path: &Path) -> bool {
        if self.files.contains(path) {
            return true;
        }
        let in_folder = path.parent().is_some_and(|p| self.folders.contains(p));
        in_folder
            && path
                .file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|name| name.starts_with(".."))
    }
}

/// `path` made absolute against the working folder, without resolving symlinks (the
/// folder watched is the one holding the link).
fn absolute(path: &Path) -> Option<PathBuf> {
    match std::path::absolute(path) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot watch this file");
            None
        }
    }
}

/// Whether an event of this kind can mean new contents: not a mere open or read (reading
/// the files on reload must not trigger another reload).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// The paths of `event` that concern a watched file (all of them when the platform says
/// events were lost and everything must be looked at again).
fn relevant(watched: &Watched, event: notify::Result<Event>) -> Vec<PathBuf> {
    match event {
        Ok(event) if event.need_rescan() => vec![PathBuf::from("(events lost: rescan)")],
        Ok(event) if is_change(&event.kind) => event
            .paths
            .into_iter()
            .filter(|p| watched.concerns(p))
            .collect(),
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "file watcher error");
            Vec::new()
        }
    }
}

/// The task: waits for a relevant event, lets the burst settle, reloads, and re-watches the
/// files of the config in force.
async fn run(
    mut watcher: RecommendedWatcher,
    mut events: mpsc::UnboundedReceiver<notify::Result<Event>>,
    path: PathBuf,
    proxy: Arc<Proxy>,
    mut named: watch::Receiver<Vec<PathBuf>>,
) {
    let mut watched = Watched::default();
    watched.set(&mut watcher, &named.borrow_and_update());
    tracing::info!(
        files = watched.files.len(),
        folders = watched.folders.len(),
        "watching the config and the files it names"
    );
    loop {
        let mut changed = BTreeSet::new();
        // Until something concerns a watched file (or a SIGHUP reload names new files).
        while changed.is_empty() {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => changed.extend(relevant(&watched, event)),
                    None => return,
                },
                named_changed = named.changed() => {
                    if named_changed.is_err() {
                        return;
                    }
                    watched.set(&mut watcher, &named.borrow_and_update());
                }
            }
        }
        if !settle(&mut events, &watched, &mut changed).await {
            return;
        }
        let trigger = Trigger::Files(changed.into_iter().collect());
        if let Some(files) = reload_config(&path, &proxy, &trigger) {
            // Marks the value seen, so the loop above does not re-watch for nothing.
            named.borrow_and_update();
            watched.set(&mut watcher, &files);
        }
    }
}

/// Waits until `DEBOUNCE` passes without another event that concerns a watched file, adding
/// what such events name to `changed`. Other events in the folders (a spool database or a log
/// file written beside the config) do not put the reload off. `false` when the events end.
async fn settle(
    events: &mut mpsc::UnboundedReceiver<notify::Result<Event>>,
    watched: &Watched,
    changed: &mut BTreeSet<PathBuf>,
) -> bool {
    let quiet = tokio::time::sleep(DEBOUNCE);
    tokio::pin!(quiet);
    loop {
        tokio::select! {
            () = &mut quiet => return true,
            event = events.recv() => {
                let Some(event) = event else { return false };
                let named = relevant(watched, event);
                if !named.is_empty() {
                    changed.extend(named);
                    quiet.as_mut().reset(tokio::time::Instant::now() + DEBOUNCE);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(files: &[&str]) -> Watched {
        let files: BTreeSet<PathBuf> = files.iter().map(PathBuf::from).collect();
        let folders = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        Watched { files, folders }
    }

    #[test]
    fn an_event_concerns_a_watched_name_or_a_kubelet_name_in_a_watched_folder() {
        let w = watched(&["/etc/hookwall/proxy.toml", "/run/secrets/github"]);
        for yes in [
            "/etc/hookwall/proxy.toml",
            "/run/secrets/github",
            "/run/secrets/..data",
            "/run/secrets/..data_tmp",
            "/run/secrets/..2026_01_02_03_04_05.123",
        ] {
            assert!(w.concerns(Path::new(yes)), "{yes}");
        }
        for no in [
            "/etc/hookwall/proxy.toml.swp",
            "/etc/hookwall/other.toml",
            "/run/secrets/stripe",
            "/run/other/github",
            "/run/other/..data",
            "/run/secrets/sub/..data",
        ] {
            assert!(!w.concerns(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn opening_or_reading_a_file_is_no_change() {
        use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
        ] {
            assert!(is_change(&kind), "{kind:?}");
        }
    }
}
