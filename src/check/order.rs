//! The ordered parallel map: results handed on in input order, as soon as
//! each and those before it are done, with a bounded window in flight.

/// Files hashed in parallel before their results are reported: large
/// enough to keep every core busy, small enough to keep output flowing.
pub const WINDOW: usize = 256;

/// Map `f` over `items` on all cores, handing each result to `sink` in
/// order as soon as it and those before it are done; `idle` runs whenever
/// the next result is not ready yet (the caller flushes its output there,
/// so a line appears when it is known, without a write per line when
/// results come fast). At most [`WINDOW`] items are in flight ahead of the
/// next one to report, so memory stays bounded whatever the list's length.
pub fn par_in_order<'a, T: Sync, R: Send>(
    items: &'a [T],
    f: impl Fn(&'a T) -> R + Sync,
    mut sink: impl FnMut(&'a T, R) -> anyhow::Result<()>,
    mut idle: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Option<R>)>();
    let f = &f;
    // In place: this thread collects while the pool's threads hash.
    rayon::in_place_scope(|s| {
        let mut ready: std::collections::BTreeMap<usize, R> = std::collections::BTreeMap::new();
        let (mut spawned, mut next) = (0usize, 0usize);
        while next < items.len() {
            // Report what is ready first, then fill the window it freed:
            // in the other order the collector could wait with no work out.
            while let Some(r) = ready.remove(&next) {
                if let Some(item) = items.get(next) {
                    sink(item, r)?;
                }
                next += 1;
            }
            if next >= items.len() {
                break;
            }
            while spawned < items.len() && spawned - next < WINDOW {
                let (i, tx) = (spawned, tx.clone());
                if let Some(item) = items.get(i) {
                    s.spawn(move |_| {
                        // A panic is reported to the collector instead of
                        // leaving it waiting for a result that never comes;
                        // the collector may have stopped: nothing to do then.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(item)));
                        let _ = tx.send((i, r.ok()));
                    });
                }
                spawned += 1;
            }
            let (i, r) = match rx.try_recv() {
                Ok(got) => got,
                Err(_) => {
                    idle()?;
                    rx.recv()
                        .map_err(|_| anyhow::anyhow!("a hashing task was lost"))?
                }
            };
            match r {
                Some(r) => {
                    ready.insert(i, r);
                }
                None => return Err(anyhow::anyhow!("a hashing task panicked")),
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_in_order_reports_everything_in_order() {
        // When the first item of a window is the slowest, every result of
        // the window is ready at once and drained in one go: refilling the
        // window before draining once left the collector waiting with no
        // work out (a hang, caught here by a watchdog, not a timing).
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for round in 0..3 {
                let items: Vec<usize> = (0..1000 + round).collect();
                let mut seen = Vec::new();
                par_in_order(
                    &items,
                    |i| {
                        if i % WINDOW == 0 {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                        *i * 2
                    },
                    |i, r| {
                        assert_eq!(r, *i * 2);
                        seen.push(*i);
                        Ok(())
                    },
                    || Ok(()),
                )
                .unwrap();
                assert_eq!(seen, items);
            }
            let _ = done_tx.send(());
        });
        assert!(
            done_rx
                .recv_timeout(std::time::Duration::from_secs(300))
                .is_ok(),
            "par_in_order hung"
        );
    }

    #[test]
    fn a_panicking_task_is_an_error_not_a_hang() {
        let items: Vec<usize> = (0..10).collect();
        let r = par_in_order(
            &items,
            |i| {
                assert!(*i != 7, "boom");
                *i
            },
            |_, _| Ok(()),
            || Ok(()),
        );
        assert!(r.is_err());
    }
}
