//! The untrusted temporary file of DESIGN.md §1.1: `NAME.UNTRUSTED` next to
//! its final name (Qubes' convention, so the `*.UNTRUSTED` patterns of
//! component `.gitignore` files and `clean-sources` rules cover it).
//!
//! The name is fixed, so it is also the lock between concurrent runs for
//! one file. Its owner creates it `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600,
//! takes an exclusive `flock`, and only then checks that the name still
//! refers to the file it locked; it keeps the lock until the file is
//! renamed to its final name or deleted. A run finding the name taken
//! takes the lock before it decides anything:
//! - the lock is held: another run is writing the file; wait for it to end,
//!   then look at the final name again ([`Claim::Waited`]);
//! - the lock is free and the name still refers to the file just locked:
//!   its writer died (killed, crashed); delete it, never reuse it.
//!
//! A file taken for stale in the instant between its creation and its
//! owner's lock is deleted before anything is written to it, and its owner's
//! identity check notices and starts again.
//!
//! SIGINT, SIGTERM and SIGHUP (Ctrl-C under make, a CI timeout, a closed
//! terminal) delete the untrusted files a run holds, then kill it as the
//! signal would ([`remove_on_signals`]), so make sees death by signal and
//! nothing is left for the next run to clean.

use crate::exit::{fail, Code, ResultExt};
use anyhow::Result;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Qubes' suffix for files not yet verified.
pub const DEFAULT_SUFFIX: &str = ".UNTRUSTED";

/// How often a waiting run looks whether the other run is done.
const POLL: Duration = Duration::from_millis(50);
/// Attempts before giving up on a name that keeps changing under us.
const MAX_ATTEMPTS: usize = 64;

/// `final_path` with `suffix` appended to its file name. The suffix must be
/// non-empty and name no other directory (exit 2 otherwise).
pub fn untrusted_path(final_path: &Path, suffix: &str) -> Result<PathBuf> {
    if suffix.is_empty() || suffix.contains('/') || suffix.contains('\0') {
        return Err(fail(
            Code::Usage,
            format!("untrusted suffix {suffix:?}: must be non-empty, without '/'"),
        ));
    }
    let mut name = final_path
        .file_name()
        .ok_or_else(|| {
            fail(
                Code::Usage,
                format!("{}: not a file path", final_path.display()),
            )
        })?
        .to_os_string();
    name.push(suffix);
    Ok(final_path.with_file_name(name))
}

/// An untrusted file this run created and holds locked. Dropped without
/// [`Untrusted::persist`], it is deleted; so it is on a fatal signal.
#[derive(Debug)]
pub struct Untrusted {
    file: File,
    path: PathBuf,
    armed: bool,
    /// Its slot in the signal handler's registry ([`signals`]).
    slot: Option<usize>,
}

impl Untrusted {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// Rename onto `dest` (in the same directory) and fsync the directory,
    /// the lock held throughout, so a waiting run sees the final file.
    pub fn persist(mut self, dest: &Path) -> Result<()> {
        std::fs::rename(&self.path, dest)
            .with_code(Code::Io, || format!("renaming into {}", dest.display()))?;
        // Out of the signal handler's hands only once renamed: a signal
        // before then still deletes the untrusted name.
        self.armed = false;
        signals::forget(self.slot.take());
        super::sync_dir(super::parent_dir(dest)).code(Code::Io, "after the rename")
    }
}

impl Drop for Untrusted {
    fn drop(&mut self) {
        // Still locked by us, so the name is ours unless something outside
        // the protocol (an `rm`) replaced it: delete only our own file.
        if self.armed && same_file(&self.path, &self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
        signals::forget(self.slot.take());
    }
}

pub use signals::remove_on_signals;

/// The untrusted files of this process, where a signal handler can find
/// them, and the handler that deletes them.
///
/// A handler may only do what is async-signal-safe: no allocation, no
/// lock, no `std::fs`. So the registry is a fixed array of atomic pointers
/// to NUL-terminated paths built beforehand, and the handler does three
/// things POSIX lists as safe: `unlink` each path, restore the default
/// disposition, `raise` the signal again (delivered, and fatal, as soon as
/// the handler returns). A dependency (signal-hook) would bring its own
/// handler, a pipe and a thread to do what these few lines do directly.
mod signals {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr::null_mut;
    use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering::SeqCst};

    /// Untrusted files held at once (a run holds one; threads of a
    /// library user may hold more). Beyond this a file is still deleted
    /// on every other path, only not by a signal.
    const SLOTS: usize = 64;

    pub(super) static LIVE: [AtomicPtr<libc::c_char>; SLOTS] =
        [const { AtomicPtr::new(null_mut()) }; SLOTS];
    /// Set by the handler before it reads a slot: a path forgotten after
    /// that is left allocated, as the handler may be reading it.
    static DYING: AtomicBool = AtomicBool::new(false);

    /// Keep `path` for the handler; its slot, or `None` when all are taken.
    pub(super) fn remember(path: &Path) -> Option<usize> {
        let c = CString::new(path.as_os_str().as_bytes()).ok()?.into_raw();
        for (i, slot) in LIVE.iter().enumerate() {
            if slot.compare_exchange(null_mut(), c, SeqCst, SeqCst).is_ok() {
                return Some(i);
            }
        }
        // SAFETY: `c` came from CString::into_raw just above and was
        // published nowhere.
        drop(unsafe { CString::from_raw(c) });
        None
    }

    /// The handler no longer deletes the file of `slot`.
    pub(super) fn forget(slot: Option<usize>) {
        let Some(p) = slot
            .and_then(|i| LIVE.get(i))
            .map(|s| s.swap(null_mut(), SeqCst))
        else {
            return;
        };
        // A handler that loaded `p` set DYING first (SeqCst orders both):
        // then the process is about to die and `p` stays allocated.
        if !p.is_null() && !DYING.load(SeqCst) {
            // SAFETY: `p` came from CString::into_raw in `remember`, and the
            // swap took it out of the registry: no one else frees it.
            drop(unsafe { CString::from_raw(p) });
        }
    }

    extern "C" fn on_fatal_signal(sig: libc::c_int) {
        DYING.store(true, SeqCst);
        for slot in &LIVE {
            let p = slot.load(SeqCst);
            if !p.is_null() {
                // SAFETY: a NUL-terminated path that stays allocated (see
                // DYING); unlink is async-signal-safe.
                unsafe { libc::unlink(p) };
            }
        }
        // SAFETY: signal and raise are async-signal-safe; the signal is
        // blocked while its handler runs, so it is delivered, with the
        // default action (death by this signal), when the handler returns.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    /// Delete the untrusted files of this process on SIGINT, SIGTERM and
    /// SIGHUP, then die by that signal (the tools call this first thing;
    /// a signal the process was started ignoring, as `nohup` does, stays
    /// ignored). Errors are ignored: without the handler, the files are
    /// still deleted on every other path and removed by the next run.
    pub fn remove_on_signals() {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: plain sigaction calls with zeroed, then filled,
            // structures; the handler is async-signal-safe (above).
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_fatal_signal as extern "C" fn(libc::c_int) as usize;
                // No handler of ours interrupts another.
                libc::sigemptyset(&mut act.sa_mask);
                for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                    libc::sigaddset(&mut act.sa_mask, s);
                }
                act.sa_flags = libc::SA_RESTART;
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
    }
}

/// What [`claim`] got.
#[derive(Debug)]
pub enum Claim {
    /// A fresh, empty, locked untrusted file.
    Owned(Untrusted),
    /// Another run was writing it and has finished (or died): what it left
    /// under the final name must be looked at again.
    Waited,
}

/// Create and lock `final_path`'s untrusted file, removing a stale one
/// first, or wait (at most `wait`) for the run writing it. `note` hears
/// about stale files removed and waits begun.
pub fn claim(
    final_path: &Path,
    suffix: &str,
    wait: Duration,
    note: &dyn Fn(&str),
) -> Result<Claim> {
    let path = untrusted_path(final_path, suffix)?;
    for _ in 0..MAX_ATTEMPTS {
        match super::create_new_private(&path) {
            Ok(file) => {
                // Contended only for an instant, by a run probing the name.
                file.lock()
                    .with_code(Code::Io, || format!("locking {}", path.display()))?;
                if same_file(&path, &file) {
                    let slot = signals::remember(&path);
                    return Ok(Claim::Owned(Untrusted {
                        file,
                        path,
                        armed: true,
                        slot,
                    }));
                }
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => match probe(&path)? {
                Probe::Gone => {}
                Probe::Stale => note(&format!("removed stale {}", path.display())),
                Probe::Busy(f) => {
                    note(&format!(
                        "{} is being written by another run; waiting for it",
                        path.display()
                    ));
                    wait_unlocked(&f, &path, wait)?;
                    return Ok(Claim::Waited);
                }
            },
            Err(e) => return Err(e).with_code(Code::Io, || format!("creating {}", path.display())),
        }
    }
    Err(fail(
        Code::Io,
        format!("{}: the name keeps changing; giving up", path.display()),
    ))
}

/// Remove `final_path`'s untrusted file if it is a stale one; one being
/// written is left to its run. Returns the path removed.
pub fn remove_if_stale(final_path: &Path, suffix: &str) -> Result<Option<PathBuf>> {
    let path = untrusted_path(final_path, suffix)?;
    Ok(match probe(&path)? {
        Probe::Stale => Some(path),
        Probe::Gone | Probe::Busy(_) => None,
    })
}

enum Probe {
    /// Nothing there (any more): look again.
    Gone,
    /// A leftover of a dead run; it has been deleted.
    Stale,
    /// Locked by a live run; the descriptor to wait on.
    Busy(File),
}

/// Decide what the existing untrusted file is, taking its lock first.
fn probe(path: &Path) -> Result<Probe> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Probe::Gone),
        Err(e) => return Err(e).with_code(Code::Io, || format!("examining {}", path.display())),
    };
    if meta.is_dir() {
        // Nothing of ours (we only make files), and in the way: an empty
        // one goes like any leftover; one holding files is not ours to
        // delete, so every run says exactly what to do.
        return match std::fs::remove_dir(path) {
            Ok(()) => Ok(Probe::Stale),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Probe::Gone),
            Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => Err(fail(
                Code::Usage,
                format!(
                    "{} is a directory holding files, where the untrusted download goes: \
                     refused; remove it (or choose another --untrusted-suffix)",
                    path.display()
                ),
            )),
            Err(e) => Err(e).with_code(Code::Io, || {
                format!("removing the directory {}", path.display())
            }),
        };
    }
    if !meta.is_file() {
        // A symlink, FIFO or device under the reserved name is never opened
        // (or followed): nothing of ours, and in the way.
        return remove_stale(path);
    }
    // Read-write (NFS grants flock's exclusive lock only to writers);
    // O_NONBLOCK in case it became a FIFO since the lstat.
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        // Gone, or replaced by a symlink since the lstat: look again.
        Err(e) if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(Probe::Gone)
        }
        Err(e) => return Err(e).with_code(Code::Io, || format!("opening {}", path.display())),
    };
    match file.try_lock() {
        // Unlocked and still under its name: nobody is writing it.
        Ok(()) if same_file(path, &file) => remove_stale(path),
        // Renamed or deleted by its run before we got the lock.
        Ok(()) => Ok(Probe::Gone),
        Err(TryLockError::WouldBlock) => Ok(Probe::Busy(file)),
        Err(TryLockError::Error(e)) => {
            Err(e).with_code(Code::Io, || format!("locking {}", path.display()))
        }
    }
}

fn remove_stale(path: &Path) -> Result<Probe> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Probe::Stale),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Probe::Gone),
        Err(e) => Err(e).with_code(Code::Io, || format!("removing stale {}", path.display())),
    }
}

/// Wait until the run holding `file`'s lock lets it go.
fn wait_unlocked(file: &File, path: &Path, wait: Duration) -> Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock_shared() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(POLL),
            Err(TryLockError::WouldBlock) => {
                return Err(fail(
                    Code::Io,
                    format!(
                        "{}: another run is still writing it after {}s",
                        path.display(),
                        wait.as_secs()
                    ),
                ))
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_code(Code::Io, || format!("locking {}", path.display()))
            }
        }
    }
}

/// Does `path` name the file open as `file` (same device and inode)?
fn same_file(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn owned(c: Claim) -> Untrusted {
        match c {
            Claim::Owned(u) => u,
            Claim::Waited => panic!("waited"),
        }
    }

    fn quiet(_: &str) {}

    /// The signal handler's registry holds a claimed file's path (its own
    /// slot, which no other file can free or take while it is held), and
    /// gives the slot back on rename and on deletion.
    #[test]
    fn the_signal_registry_holds_the_untrusted_file() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = tempfile::tempdir().unwrap();
        for keep in [true, false] {
            let dest = dir.path().join(format!("f{keep}"));
            let Claim::Owned(mut u) =
                claim(&dest, DEFAULT_SUFFIX, Duration::ZERO, &|_| {}).unwrap()
            else {
                panic!("not claimed")
            };
            let slot = u.slot.expect("a slot");
            let c = signals::LIVE[slot].load(SeqCst);
            // SAFETY: our own slot's path, allocated until we forget it.
            let held = unsafe { std::ffi::CStr::from_ptr(c) };
            assert_eq!(held.to_bytes(), u.path().as_os_str().as_encoded_bytes());
            if keep {
                u.persist(&dest).unwrap();
            } else {
                // What Drop does with the slot, observed before it runs.
                signals::forget(u.slot.take());
                assert!(u.slot.is_none());
                drop(u);
            }
        }
    }

    #[test]
    fn names_mode_rename_and_cleanup_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.tar");
        assert_eq!(
            untrusted_path(&f, DEFAULT_SUFFIX).unwrap(),
            dir.path().join("x.tar.UNTRUSTED")
        );
        for bad in ["", "/x", "a/b"] {
            assert!(untrusted_path(&f, bad).is_err(), "{bad:?}");
        }
        let mut u = owned(claim(&f, DEFAULT_SUFFIX, Duration::ZERO, &quiet).unwrap());
        assert_eq!(u.path(), dir.path().join("x.tar.UNTRUSTED"));
        let mode = u.file().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
        u.file_mut().write_all(b"data").unwrap();
        u.persist(&f).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"data");
        assert!(!dir.path().join("x.tar.UNTRUSTED").exists());

        let u = owned(claim(&f, ".part", Duration::ZERO, &quiet).unwrap());
        assert!(dir.path().join("x.tar.part").exists());
        drop(u);
        assert!(!dir.path().join("x.tar.part").exists(), "deleted on drop");
    }

    #[test]
    fn stale_files_are_removed_never_reused_and_live_ones_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("y.tar");
        let p = dir.path().join("y.tar.UNTRUSTED");
        // A leftover of a killed run (unlocked): removed, a fresh file made.
        std::fs::write(&p, b"stale bytes").unwrap();
        let notes = std::cell::RefCell::new(Vec::new());
        let note = |n: &str| notes.borrow_mut().push(n.to_string());
        let u = owned(claim(&f, DEFAULT_SUFFIX, Duration::ZERO, &note).unwrap());
        assert_eq!(u.file().metadata().unwrap().len(), 0, "never reused");
        assert!(notes.borrow()[0].contains("removed stale"), "{notes:?}");
        // While it is held, it is not stale...
        assert_eq!(remove_if_stale(&f, DEFAULT_SUFFIX).unwrap(), None);
        // ...and another claim waits for it (here: not long enough).
        let e = claim(&f, DEFAULT_SUFFIX, Duration::from_millis(120), &quiet).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Io);
        assert!(p.exists(), "a live run's file is left alone");
        // Released by its run (here: persisted), the waiter is told to look again.
        std::thread::scope(|s| {
            let t = s.spawn(|| claim(&f, DEFAULT_SUFFIX, Duration::from_secs(10), &quiet));
            std::thread::sleep(Duration::from_millis(150));
            u.persist(&f).unwrap();
            assert!(matches!(t.join().unwrap().unwrap(), Claim::Waited));
        });
        // A symlink under the name is removed, never followed.
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let u = owned(claim(&f, DEFAULT_SUFFIX, Duration::ZERO, &quiet).unwrap());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        drop(u);
        // An empty directory under the name is removed like a leftover;
        // one holding files is refused (exit 2, not 4 on every run).
        std::fs::create_dir(&p).unwrap();
        drop(owned(
            claim(&f, DEFAULT_SUFFIX, Duration::ZERO, &quiet).unwrap(),
        ));
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("x"), b"").unwrap();
        let e = claim(&f, DEFAULT_SUFFIX, Duration::ZERO, &quiet).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        assert!(format!("{e:#}").contains("remove it"), "{e:#}");
    }

    #[test]
    fn many_threads_claiming_one_name_never_share_it() {
        // Each owner writes its id, checks it is still alone, persists:
        // concurrent claims serialize instead of overwriting or deleting
        // each other's file.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("z.tar");
        let owners = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for id in 0..8u8 {
                let (f, owners) = (&f, &owners);
                s.spawn(move || loop {
                    match claim(f, DEFAULT_SUFFIX, Duration::from_secs(30), &quiet).unwrap() {
                        Claim::Owned(mut u) => {
                            let n = owners.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            assert_eq!(n, 0, "two owners at once");
                            u.file_mut().write_all(&[id]).unwrap();
                            std::thread::sleep(Duration::from_millis(10));
                            assert_eq!(std::fs::read(u.path()).unwrap(), [id]);
                            owners.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                            u.persist(f).unwrap();
                            return;
                        }
                        Claim::Waited => continue,
                    }
                });
            }
        });
        assert_eq!(std::fs::read(&f).unwrap().len(), 1);
        assert!(!dir.path().join("z.tar.UNTRUSTED").exists());
    }
}
