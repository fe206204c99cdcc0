//! The lock that serialises one tenant's steps, with two classes of waiter: steps that
//! finish work already accepted (recording a delivery, a call's result, an SMS reply, a due
//! timer, an acknowledgement) take their turn before steps that accept new work (a new
//! signal). Under overload new signals then wait longer, instead of accepted callers
//! waiting ever longer for their dial (with one class, `redial bench ingest` at saturation
//! shows dials falling far behind accepted signals). Priority is
//! bounded: after [`MAX_FINISH_STREAK`] finishing steps in a row, a waiting new signal goes
//! next, so a backlog (timers due after downtime, say) cannot hold new signals off for
//! long. Neither std's nor parking_lot's mutexes have priority classes, hence this small
//! lock.

use std::sync::{Condvar, Mutex};

/// Finishing steps in a row while a new signal waits, before the new signal goes.
pub const MAX_FINISH_STREAK: u32 = 8;

/// Which class a step waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Finishes accepted work: goes first.
    Finish,
    /// Accepts new work: waits while a `Finish` step is waiting.
    Admit,
}

/// One tenant's lock.
#[derive(Debug, Default)]
pub struct TenantLock {
    state: Mutex<State>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct State {
    held: bool,
    finishers_waiting: usize,
    admitters_waiting: usize,
    /// Finishing steps that took the lock in a row while a new signal waited.
    finish_streak: u32,
}

impl State {
    fn waiting(&mut self, priority: Priority) -> &mut usize {
        match priority {
            Priority::Finish => &mut self.finishers_waiting,
            Priority::Admit => &mut self.admitters_waiting,
        }
    }

    /// Whether a step of class `priority` must keep waiting.
    fn must_wait(&self, priority: Priority) -> bool {
        let admit_due = self.admitters_waiting > 0 && self.finish_streak >= MAX_FINISH_STREAK;
        self.held
            || match priority {
                Priority::Finish => admit_due,
                Priority::Admit => self.finishers_waiting > 0 && !admit_due,
            }
    }
}

/// The turn of the step holding the lock; the next waiter goes when it drops.
#[must_use]
pub struct Turn<'a>(&'a TenantLock);

impl TenantLock {
    /// Waits for this tenant's turn in `priority`'s class.
    pub fn lock(&self, priority: Priority) -> Turn<'_> {
        let mut s = self.state.lock().unwrap();
        *s.waiting(priority) += 1;
        while s.must_wait(priority) {
            s = self.released.wait(s).unwrap();
        }
        *s.waiting(priority) -= 1;
        s.finish_streak = match priority {
            Priority::Finish if s.admitters_waiting > 0 => s.finish_streak + 1,
            _ => 0,
        };
        s.held = true;
        Turn(self)
    }
}

/// A tenant's lock in this process together with its lock in the store, so a step runs
/// alone among every process sharing the store (see [`crate::store::Store::lock_tenant`]).
pub struct TenantTurns {
    pub(super) lock: std::sync::Arc<TenantLock>,
    pub(super) tenant: String,
    pub(super) store: std::sync::Arc<dyn crate::store::Store>,
}

/// A step's turn in this process and in the store; both end when it drops (the store's
/// first, so another process may go while this one's next waiter wakes).
#[must_use]
pub struct HeldTurn<'a> {
    _store: crate::store::StoreLock,
    _turn: Turn<'a>,
}

impl TenantTurns {
    /// Waits for this tenant's turn in `priority`'s class here, then in the store.
    pub fn lock(&self, priority: Priority) -> Result<HeldTurn<'_>, crate::store::StoreError> {
        let turn = self.lock.lock(priority);
        let store = self.store.lock_tenant(&self.tenant)?;
        Ok(HeldTurn {
            _store: store,
            _turn: turn,
        })
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().held = false;
        // Every waiter rechecks its class; one of them gets the turn.
        self.0.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_step_at_a_time() {
        let lock = Arc::new(TenantLock::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (lock, inside) = (lock.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let priority = if i % 2 == 0 {
                            Priority::Finish
                        } else {
                            Priority::Admit
                        };
                        let _turn = lock.lock(priority);
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    /// Holds the lock in class `holder`, queues `waiters` (all registered as waiting before
    /// the lock is released), and returns the order in which they got their turns.
    fn grant_order(holder: Priority, waiters: &[Priority]) -> Vec<Priority> {
        let lock = Arc::new(TenantLock::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = lock.lock(holder);
        let threads: Vec<_> = waiters
            .iter()
            .map(|&priority| {
                let (lock, order) = (lock.clone(), order.clone());
                std::thread::spawn(move || {
                    let _turn = lock.lock(priority);
                    order.lock().unwrap().push(priority);
                })
            })
            .collect();
        let count = |p| waiters.iter().filter(|w| **w == p).count();
        while {
            let s = lock.state.lock().unwrap();
            s.admitters_waiting < count(Priority::Admit)
                || s.finishers_waiting < count(Priority::Finish)
        } {
            std::thread::yield_now();
        }
        drop(held);
        for t in threads {
            t.join().unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    }

    #[test]
    fn a_waiting_finisher_goes_before_waiting_admitters() {
        let mut waiters = vec![Priority::Admit; 3];
        waiters.push(Priority::Finish);
        assert_eq!(grant_order(Priority::Admit, &waiters)[0], Priority::Finish);
    }

    #[test]
    fn a_new_signal_gets_in_within_a_bounded_number_of_finishing_steps() {
        let mut waiters = vec![Priority::Admit];
        waiters.extend([Priority::Finish; 20]);
        let order = grant_order(Priority::Finish, &waiters);
        let admitted_at = order.iter().position(|p| *p == Priority::Admit);
        assert_eq!(
            admitted_at,
            Some(MAX_FINISH_STREAK as usize),
            "the new signal goes right after {MAX_FINISH_STREAK} finishing steps: {order:?}"
        );
    }
}
