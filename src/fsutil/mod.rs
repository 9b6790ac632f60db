//! Filesystem helpers shared by the tools: atomic replacement, bounded
//! reads, write-behind syncing; [`untrusted`] holds the untrusted-temporary
//! discipline of DESIGN.md §1.1.

pub mod input;
pub mod untrusted;

use crate::exit::{fail, Code, ResultExt};
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// An exclusive lock on `PATH.lock`, created next to `path`, held until the
/// returned file is dropped: runs that update one state file (`make -j`)
/// take turns instead of losing each other's updates. The lock file goes
/// through the special-file rule ([`open_checked`]): a FIFO or device
/// planted at `PATH.lock` is refused at once (exit 2), never opened in a
/// way that waits for a reader.
pub fn lock_beside(path: &Path) -> Result<File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let name = std::path::PathBuf::from(name);
    let lock = open_checked(
        OpenOptions::new().create(true).truncate(false).write(true),
        &name,
    )
    .map_err(|e| match e.kind() {
        // Created if missing, so "not found" is its directory: no retry
        // makes it (exit 2, as for an output in a missing directory).
        std::io::ErrorKind::NotFound => fail(
            Code::Usage,
            format!(
                "lock {}: its directory {} does not exist",
                name.display(),
                parent_dir(&name).display()
            ),
        ),
        _ => refused_or_io(e, "lock", &name),
    })?;
    lock.lock()
        .with_code(Code::Io, || format!("locking {}", name.display()))?;
    Ok(lock)
}

/// The special-file rule, for every file a tool opens (inputs, state,
/// logs, locks): open `path` with `opts` and `O_NONBLOCK` (which regular
/// files ignore), so a FIFO cannot block the open, then judge the open
/// descriptor with `fstat`, so no swap between a check and the open can
/// slip one in. Anything but a regular file (symlinks followed) is
/// `InvalidInput` naming its kind; a FIFO opened for writing with no
/// reader (`ENXIO`) is one too.
pub fn open_checked(opts: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    let not_regular = |kind: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file ({kind})"),
        )
    };
    let file = match opts.custom_flags(libc::O_NONBLOCK).open(path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            let kind = std::fs::metadata(path).map_or("a FIFO", |m| kind_of(&m));
            return Err(not_regular(kind));
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(kind_of(&meta)));
    }
    Ok(file)
}

/// Does `e` say the path cannot name a file at all: a name too long
/// (`ENAMETOOLONG`), a component that is not a directory (`a.txt/x`,
/// `ENOTDIR`), a symlink loop (`ELOOP`)? Such a path fails the same way on
/// every retry: it is no I/O error worth one (exit 4), but a missing file
/// (a listed one: the check fails) or an unusable name (an operand or an
/// output: exit 2).
pub fn cannot_exist(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENAMETOOLONG | libc::ENOTDIR | libc::ELOOP)
    )
}

/// An [`open_checked`] error as the tools report it: not a regular file,
/// or a path that [`cannot_exist`], is a usage error (2), naming `what`;
/// any other failure is I/O (4).
pub fn refused_or_io(e: std::io::Error, what: &str, path: &Path) -> anyhow::Error {
    // Ours (no OS error behind it), not an EINVAL from the kernel.
    if e.kind() == std::io::ErrorKind::InvalidInput && e.raw_os_error().is_none() {
        fail(
            Code::Usage,
            format!("{what} {}: {e}: refused", path.display()),
        )
    } else if cannot_exist(&e) {
        fail(Code::Usage, format!("{what} {}: {e}", path.display()))
    } else {
        anyhow::Error::new(e).context(crate::exit::Failure::new(
            Code::Io,
            format!("opening {what} {}", path.display()),
        ))
    }
}

/// `mkdir -p dir` for an output or state directory: a path that can never
/// be one (an existing file, FIFO or device there, a component that is a
/// file, a name too long) is a usage error (2) naming `what`; any other
/// failure is I/O (4).
pub fn create_dir_all(dir: &Path, what: &str) -> Result<()> {
    let Err(e) = std::fs::create_dir_all(dir) else {
        return Ok(());
    };
    let occupied = e.kind() == std::io::ErrorKind::AlreadyExists;
    if occupied || cannot_exist(&e) {
        let why = match std::fs::metadata(dir) {
            Ok(m) if occupied => format!("not a directory ({})", kind_of(&m)),
            _ => e.to_string(),
        };
        return Err(fail(
            Code::Usage,
            format!("{what} {}: {why}", dir.display()),
        ));
    }
    Err(e).with_code(Code::Io, || format!("creating {what} {}", dir.display()))
}

/// fsync a directory so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    // O_DIRECTORY: whatever else is there is refused, never waited on.
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

/// Write `bytes` to `path` atomically: a temporary file in the same
/// directory, fsynced, renamed over `path`, and the directory fsynced.
/// Readers see the old content or the new, never a torn file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, 0o600)
}

/// [`write_atomic`] of a file for every reader: the mode a new file gets
/// ([`new_file_mode`]), not a temporary file's 0600 (checkpoints, a
/// published log's files).
pub fn write_atomic_public(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, new_file_mode())
}

/// [`write_atomic`] of a file with permission bits `mode` (set on the
/// temporary file before it is renamed: never another mode under `path`).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", path.display()))?;
    sync_dir(dir)
}

/// Read all of `r`, at most `max` bytes: more is an error with exit code
/// `over` (untrusted input is bounded, DESIGN.md §1.5); a read error is
/// exit 4. `what` names the input in both messages.
pub fn read_bounded(r: impl Read, max: u64, what: &str, over: Code) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    r.take(max.saturating_add(1))
        .read_to_end(&mut data)
        .with_code(Code::Io, || format!("reading {what}"))?;
    if data.len() as u64 > max {
        return Err(fail(over, format!("{what}: larger than {max} bytes")));
    }
    Ok(data)
}

/// Files named as inputs (keyrings, signatures, lists, logs): a FIFO or
/// device given where a file is expected is refused, never read (opening
/// a FIFO blocks until a writer comes; a device can yield bytes forever).
/// The file is opened with `O_NONBLOCK` (which regular files ignore) and
/// checked with `fstat` on the open descriptor, so no swap between a check
/// and the open can slip a FIFO in.
///
/// Open `path` for reading if it is a regular file (symlinks followed).
/// Missing or of the wrong kind is a usage error (2), naming `what`; any
/// other failure to open is I/O (4).
pub fn open_regular(path: &Path, what: &str) -> Result<File> {
    match open_regular_io(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(
            Code::Usage,
            format!("{what} {}: no such file", path.display()),
        )),
        Err(e) => Err(refused_or_io(e, what, path)),
    }
}

/// [`open_regular`] with plain I/O errors, for callers that judge them
/// (check-hashes: a listed file that is missing fails the check): not
/// found is `NotFound`, the wrong kind of file `InvalidInput`.
pub fn open_regular_io(path: &Path) -> std::io::Result<File> {
    open_checked(OpenOptions::new().read(true), path)
}

/// Check that `path` names a regular file, without reading it (for files a
/// library outside this module opens: keyrings).
pub fn require_regular(path: &Path, what: &str) -> Result<()> {
    open_regular(path, what).map(drop)
}

/// The kind of a non-regular file, for messages.
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Read a regular file whole, at most `max` bytes (more: exit `over`).
pub fn read_regular(path: &Path, what: &str, max: u64, over: Code) -> Result<Vec<u8>> {
    let f = open_regular(path, what)?;
    read_bounded(f, max, &format!("{what} {}", path.display()), over)
}

/// Open a new file exclusively with mode 0600: `O_CREAT|O_EXCL|O_NOFOLLOW`,
/// so neither an existing file nor a planted symlink is ever reused.
pub fn create_new_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The mode a new regular file gets under the process umask (`0666 &
/// !umask`), as curl or cp would create it. Verified downloads get it when
/// they leave their 0600 untrusted state. The umask is read from
/// /proc/self/status (Linux 4.7+); without it, 022 is assumed.
pub fn new_file_mode() -> u32 {
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022);
    0o666 & !umask
}

/// fdatasync from a background thread while a writer goes on: once `batch`
/// units (records, bytes) are written since the last sync, or `every` has
/// passed. The writer never waits for the disk, and the final sync before a
/// rename or an `end` record only has the last batch left to flush.
pub struct BackgroundSync {
    state: Mutex<SyncState>,
    wake: Condvar,
    batch: u64,
    every: Duration,
}

#[derive(Default)]
struct SyncState {
    written: u64,
    synced: u64,
    done: bool,
    error: Option<std::io::Error>,
}

impl BackgroundSync {
    pub fn new(batch: u64, every: Duration) -> Self {
        BackgroundSync {
            state: Mutex::new(SyncState::default()),
            wake: Condvar::new(),
            batch,
            every,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The syncing thread's body, until [`BackgroundSync::stop`]. `file` is
    /// a duplicate of the writer's descriptor (fdatasync covers the file).
    pub fn run(&self, file: &File) {
        let mut st = self.lock();
        loop {
            st = self
                .wake
                .wait_timeout_while(st, self.every, |s| {
                    !s.done && s.written - s.synced < self.batch
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if st.done {
                return;
            }
            if st.written > st.synced {
                let target = st.written;
                drop(st);
                let r = file.sync_data();
                st = self.lock();
                match r {
                    Ok(()) => st.synced = target,
                    Err(e) => {
                        st.error = Some(e);
                        return;
                    }
                }
            }
        }
    }

    /// `n` more units are written; wakes the syncer when a batch is full.
    /// Returns the error of an earlier background sync, once.
    pub fn written(&self, n: u64) -> std::io::Result<()> {
        let mut st = self.lock();
        st.written += n;
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        if st.written - st.synced >= self.batch {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Units written but not yet known to be on the disk.
    pub fn pending(&self) -> u64 {
        let st = self.lock();
        st.written - st.synced
    }

    /// End [`BackgroundSync::run`] (the caller still syncs once itself).
    pub fn stop(&self) {
        self.lock().done = true;
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
    }

    #[test]
    fn background_sync_follows_the_writer_by_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = File::create(dir.path().join("f")).unwrap();
        let fd = f.try_clone().unwrap();
        // A long period: only the batch size can wake the syncer.
        let sync = BackgroundSync::new(10, Duration::from_secs(3600));
        std::thread::scope(|s| {
            let t = s.spawn(|| sync.run(&fd));
            f.write_all(b"12345").unwrap();
            sync.written(5).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(sync.pending(), 5, "synced before a batch was full");
            f.write_all(b"67890").unwrap();
            sync.written(5).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while sync.pending() != 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(sync.pending(), 0, "a full batch was not synced");
            sync.stop();
            t.join().unwrap();
        });
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo has no other inputs.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo, "log").unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        assert!(format!("{e:#}").contains("a FIFO"), "{e:#}");
        let e = open_regular(Path::new("/dev/zero"), "keyring").unwrap_err();
        assert!(format!("{e:#}").contains("a device"), "{e:#}");
        let e = open_regular(dir.path(), "proof").unwrap_err();
        assert!(format!("{e:#}").contains("a directory"), "{e:#}");
        let e = open_regular(&dir.path().join("none"), "proof").unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        // A lock path goes through the same rule: a FIFO there (no reader:
        // ENXIO) or a device is refused at once, never waited on.
        let state = dir.path().join("state");
        let c = std::ffi::CString::new(format!("{}.lock", state.display())).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = lock_beside(&state).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        assert!(format!("{e:#}").contains("a FIFO"), "{e:#}");
        std::fs::remove_file(dir.path().join("state.lock")).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("state.lock")).unwrap();
        let e = lock_beside(&state).unwrap_err();
        assert!(format!("{e:#}").contains("a device"), "{e:#}");
        std::fs::remove_file(dir.path().join("state.lock")).unwrap();
        drop(lock_beside(&state).unwrap());
        let f = dir.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_regular(&f, "x", 5, Code::Failed).unwrap(), b"12345");
        let e = read_regular(&f, "x", 4, Code::Failed).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Failed);
    }
}
