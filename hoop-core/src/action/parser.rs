//! PostgreSQL's parser, run where its recursion cannot exhaust the caller's stack.
//!
//! Decoding the parse tree recurses once per nesting level with large frames (about 35 KiB
//! per level of `ARRAY[ARRAY[...]]` unoptimised), so sixty levels of hostile nesting overflow a
//! connection thread's 2 MiB stack and abort the whole process. Every parse therefore runs, with
//! everything that walks or drops its tree, on a parser thread whose stack is deep enough for
//! any tree the C parser accepts (it refuses deeper ones itself). Callers parse only on a shape
//! cache miss, so the hand-off is off the common path.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

/// Stack of each parser thread: address space reserved, touched only as deep trees need it.
const PARSER_STACK: usize = 512 << 20;
/// Parser threads.
const PARSER_THREADS: usize = 2;
/// Jobs waiting for a parser thread before callers wait to hand theirs over.
const QUEUE: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// Set on parser threads: work they start runs where it is.
    static ON_PARSER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn queue() -> Option<&'static SyncSender<Job>> {
    static TX: OnceLock<Option<SyncSender<Job>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..PARSER_THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("hoop-sql-parser-{i}")).stack_size(PARSER_STACK).spawn(move || {
                ON_PARSER.set(true);
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(p) => p.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            started += usize::from(spawned.is_ok());
        }
        (started > 0).then_some(tx)
    })
    .as_ref()
}

/// Runs `f` on a parser thread and returns its result; `None` if no parser thread could be
/// started or `f` panicked (callers treat that as text they cannot read).
pub(crate) fn run<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    if ON_PARSER.get() {
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    }
    let (tx, rx) = sync_channel(1);
    let job: Job = Box::new(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
        let _ = tx.send(r);
    });
    queue()?.send(job).ok()?;
    rx.recv().ok().flatten()
}

#[cfg(test)]
mod tests {
    #[test]
    fn deep_trees_do_not_take_the_caller_down() {
        // On a 2 MiB stack, as a connection thread has.
        let r = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                for text in [
                    format!("select {}1{}", "array[".repeat(60), "]".repeat(60)),
                    format!("select {}1{}", "row(".repeat(500), ")".repeat(500)),
                    format!("select {}1{}", "-(".repeat(3000), ")".repeat(3000)),
                    format!("select 1{}", "+1".repeat(20000)),
                    format!("select {}true", "not ".repeat(5000)),
                ] {
                    let sql = crate::action::sql::analyze(&text);
                    assert!(!sql.kinds.is_empty());
                    let _ = crate::action::lineage::derive(&text);
                    let _ = crate::action::sql::names(&text);
                }
            })
            .map(|h| h.join());
        assert!(matches!(r, Ok(Ok(()))));
    }
}
