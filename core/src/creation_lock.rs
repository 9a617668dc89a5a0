//! The creation lock: one per graph, re-entrant, held while a variable is created, and
//! never the cause of a deadlock.
//!
//! A variable creator or custom getter runs while its graph's creation lock is held, and
//! may create variables in another graph, so a thread can hold one graph's lock and wait
//! for another's. Two threads doing that in opposite directions would wait for each
//! other for ever. A thread that already holds a creation lock and has to wait for
//! another one first records, in one process-wide table, which lock it waits for, and
//! follows the chain of owners and the locks they wait for. If the chain comes back to
//! this thread, waiting would never end, and the lock is refused instead
//! ([`WouldDeadlock`]); the refused call fails and undoes itself, which releases the
//! locks the other thread waits for.
//!
//! The table is only touched by threads that hold a lock and wait for another, so the
//! common path (no contention, or contention without nesting) never takes it. A thread
//! that holds no creation lock cannot be part of a cycle: nobody waits for it.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;

use crate::sync::{lock, wait};

thread_local! {
    /// How many creation-lock guards this thread holds, over all graphs.
    static HELD: Cell<usize> = const { Cell::new(0) };
}

/// The threads that hold a creation lock and wait for another one, with that lock.
static WAITING: Mutex<Vec<(ThreadId, Arc<CreationLock>)>> = Mutex::new(Vec::new());

/// A re-entrant lock that serializes variable creation in a graph (creators and
/// custom getters may create variables while one is being created).
#[derive(Default)]
pub(crate) struct CreationLock {
    owner: Mutex<Owner>,
    cv: Condvar,
}

/// Who holds the creation lock, how many times, and how many threads wait for it.
#[derive(Default)]
struct Owner {
    thread: Option<ThreadId>,
    depth: usize,
    waiting: usize,
}

/// Waiting for the lock would never end: its owner waits, directly or through other
/// threads, for a creation lock this thread holds.
#[derive(Debug)]
pub(crate) struct WouldDeadlock;

impl CreationLock {
    /// Takes the lock (again, if this thread holds it), waiting while another thread
    /// holds it, unless that wait would never end.
    pub(crate) fn lock(self: &Arc<Self>) -> Result<CreationGuard<'_>, WouldDeadlock> {
        let me = std::thread::current().id();
        let mut registered = false;
        let r = loop {
            let mut g = lock(&self.owner);
            match g.thread {
                None => {
                    g.thread = Some(me);
                    g.depth = 1;
                    break Ok(());
                }
                Some(t) if t == me => {
                    g.depth += 1;
                    break Ok(());
                }
                Some(_) if HELD.get() == 0 => {
                    // Holding nothing, this thread cannot close a cycle: wait.
                    g.waiting += 1;
                    g = wait(&self.cv, g);
                    g.waiting -= 1;
                }
                Some(_) => {
                    // The table is locked before any lock's owner (the order every
                    // walk takes), so this lock's guard is let go first.
                    drop(g);
                    let mut w = lock(&WAITING);
                    if self.leads_back_to(me, &w) {
                        break Err(WouldDeadlock);
                    }
                    if !registered {
                        w.push((me, Arc::clone(self)));
                        registered = true;
                    }
                    drop(w);
                    let mut g = lock(&self.owner);
                    // Released meanwhile: take it on the next turn.
                    if g.thread.is_some_and(|t| t != me) {
                        g.waiting += 1;
                        g = wait(&self.cv, g);
                        g.waiting -= 1;
                    }
                }
            }
        };
        if registered {
            lock(&WAITING).retain(|(t, _)| *t != me);
        }
        r.map(|()| {
            HELD.set(HELD.get() + 1);
            CreationGuard { lock: self, _this_thread: PhantomData }
        })
    }

    /// Whether following this lock's owner, the lock that owner waits for, its owner,
    /// and so on (`waiting`, the table, locked by the caller) reaches thread `me`.
    fn leads_back_to(&self, me: ThreadId, waiting: &[(ThreadId, Arc<CreationLock>)]) -> bool {
        let mut at = self;
        // A chain without a cycle visits each waiting thread at most once.
        for _ in 0..=waiting.len() {
            let Some(owner) = lock(&at.owner).thread else { return false };
            if owner == me {
                return true;
            }
            match waiting.iter().find(|(t, _)| *t == owner) {
                Some((_, next)) => at = next,
                None => return false,
            }
        }
        false
    }
}

/// Held while a variable is being created; releases the creation lock on drop, on the
/// thread that took it (it is not `Send`: the count of held locks is per thread).
pub(crate) struct CreationGuard<'a> {
    lock: &'a CreationLock,
    _this_thread: PhantomData<*const ()>,
}

impl Drop for CreationGuard<'_> {
    fn drop(&mut self) {
        HELD.set(HELD.get() - 1);
        let mut g = lock(&self.lock.owner);
        g.depth -= 1;
        if g.depth == 0 {
            g.thread = None;
            // Only when a thread waits: `notify_one` is a system call each time (a
            // futex wake), about 5 % of creating a variable with nobody waiting.
            if g.waiting > 0 {
                self.lock.cv.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Barrier;
    use std::time::Duration;

    #[test]
    fn the_lock_is_reentrant_and_released_by_its_last_guard() {
        let l = Arc::new(CreationLock::default());
        let a = l.lock().unwrap();
        let b = l.lock().unwrap();
        drop(a);
        let l2 = Arc::clone(&l);
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            let _g = l2.lock().unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "held by the second guard");
        drop(b);
        rx.recv_timeout(Duration::from_secs(30)).expect("released by the last guard");
        t.join().unwrap();
        assert_eq!(HELD.get(), 0);
    }

    #[test]
    fn of_two_threads_waiting_for_each_others_lock_one_is_refused() {
        let (a, b) = (Arc::new(CreationLock::default()), Arc::new(CreationLock::default()));
        let barrier = Arc::new(Barrier::new(2));
        let (tx, rx) = mpsc::channel();
        let mut ids = Vec::new();
        for (first, second) in [(a.clone(), b.clone()), (b, a)] {
            let (barrier, tx) = (barrier.clone(), tx.clone());
            ids.push(std::thread::spawn(move || {
                let _g = first.lock().unwrap();
                barrier.wait();
                let r = second.lock().map(drop);
                tx.send(r.is_ok()).unwrap();
            }));
        }
        let ids: Vec<ThreadId> = ids.iter().map(|h| h.thread().id()).collect();
        let mut got = [rx.recv_timeout(Duration::from_secs(30)), rx.recv_timeout(Duration::from_secs(30))]
            .map(|r| r.expect("neither thread waits for ever"));
        got.sort();
        assert_eq!(got, [false, true], "one is refused, and the other then gets its lock");
        // (Other tests' threads may be in the table: tests run in parallel.)
        assert!(lock(&WAITING).iter().all(|(t, _)| !ids.contains(t)), "neither thread is left in the table");
    }

    #[test]
    fn a_cycle_through_three_threads_is_found() {
        let locks: Vec<_> = (0..3).map(|_| Arc::new(CreationLock::default())).collect();
        let barrier = Arc::new(Barrier::new(3));
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            let (first, second) = (locks[i].clone(), locks[(i + 1) % 3].clone());
            let (barrier, tx) = (barrier.clone(), tx.clone());
            std::thread::spawn(move || {
                let _g = first.lock().unwrap();
                barrier.wait();
                let r = second.lock().map(drop);
                tx.send(r.is_ok()).unwrap();
            });
        }
        let refused =
            (0..3).filter(|_| !rx.recv_timeout(Duration::from_secs(30)).expect("no thread waits for ever")).count();
        assert_eq!(refused, 1, "the last thread to close the cycle is refused, the other two go on");
    }
}
