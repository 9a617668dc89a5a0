//! The crate's one poisoned-lock policy.
//!
//! A lock is poisoned when a thread panicked while holding it. varscope-core recovers
//! the guard with [`PoisonError::into_inner`] and goes on, because the state behind
//! every lock in this crate is only changed by operations that complete or roll back
//! before the guard is released: the store, the names table and the collections are
//! changed inside a journaled transaction that is undone on error or panic, scope fields and
//! the seed are replaced by single assignments, and no user callback (initializer,
//! custom getter, creator, partitioner, regularizer) ever runs while a lock is held.
//! So a panic elsewhere cannot leave the locked state half-made, and refusing every
//! later call on the graph would only turn one panic into many.
//!
//! Every lock in the crate goes through these helpers; no call site recovers a
//! poisoned lock on its own or calls `.lock().unwrap()`.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks a mutex, recovering it if poisoned (see the module docs).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks an `RwLock` for reading, recovering it if poisoned (see the module docs).
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Locks an `RwLock` for writing, recovering it if poisoned (see the module docs).
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on a condition variable, recovering the mutex if poisoned (see the module docs).
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Runs its closure when dropped: what a scope pushed is popped, or a transaction is
/// closed, after the body, also when the body panics. `std::mem::forget` it to skip
/// the closure on the normal exit.
pub(crate) struct OnDrop<F: FnMut()>(pub(crate) F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_lock_is_recovered_with_its_value() {
        let m = Arc::new(Mutex::new(5));
        let l = Arc::new(RwLock::new(7));
        let (m2, l2) = (m.clone(), l.clone());
        let r = std::thread::spawn(move || {
            let _g = lock(&m2);
            let _w = write(&l2);
            panic!("poison both");
        })
        .join();
        assert!(r.is_err());
        assert!(m.is_poisoned() && l.is_poisoned());
        assert_eq!(*lock(&m), 5);
        assert_eq!(*read(&l), 7);
        *write(&l) = 8;
        assert_eq!(*read(&l), 8);
    }
}
