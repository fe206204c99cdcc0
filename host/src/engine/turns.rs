//! The lock that serialises one tenant's steps, with two classes of waiter: steps that
//! finish work already accepted (recording a delivery, a call's result, an SMS reply, a due
//! timer, an acknowledgement) take their turn before steps that accept new work (a new
//! signal). Under overload new signals then wait longer, instead of accepted callers
//! waiting ever longer for their dial: measured with `redial bench ingest --clients 64
//! --tenants 8`, dials fell to a tenth of the accepted rate with one class. Priority is
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
    use std::time::Duration;

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

    #[test]
    fn a_new_signal_gets_in_within_a_bounded_number_of_finishing_steps() {
        let lock = Arc::new(TenantLock::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = lock.lock(Priority::Finish);
        let spawn = |name: &'static str, priority| {
            let (lock, order) = (lock.clone(), order.clone());
            std::thread::spawn(move || {
                let _turn = lock.lock(priority);
                order.lock().unwrap().push(name);
            })
        };
        let mut waiters = vec![spawn("admit", Priority::Admit)];
        waiters.extend((0..20).map(|_| spawn("finish", Priority::Finish)));
        // Everyone is queued before the lock is released.
        while {
            let s = lock.state.lock().unwrap();
            s.admitters_waiting < 1 || s.finishers_waiting < 20
        } {
            std::thread::yield_now();
        }
        drop(held);
        for w in waiters {
            w.join().unwrap();
        }
        let order = order.lock().unwrap();
        let admitted_at = order.iter().position(|n| *n == "admit").unwrap();
        assert_eq!(
            admitted_at, MAX_FINISH_STREAK as usize,
            "the new signal goes right after {MAX_FINISH_STREAK} finishing steps: {order:?}"
        );
    }

    #[test]
    fn a_waiting_finisher_goes_before_waiting_admitters() {
        let lock = Arc::new(TenantLock::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = lock.lock(Priority::Admit);
        let spawn = |name: &'static str, priority| {
            let (lock, order) = (lock.clone(), order.clone());
            std::thread::spawn(move || {
                let _turn = lock.lock(priority);
                order.lock().unwrap().push(name);
            })
        };
        let admitters: Vec<_> = (0..3).map(|_| spawn("admit", Priority::Admit)).collect();
        std::thread::sleep(Duration::from_millis(50));
        let finisher = spawn("finish", Priority::Finish);
        // Let the finisher register as waiting before the lock is released.
        while lock.state.lock().unwrap().finishers_waiting == 0 {
            std::thread::yield_now();
        }
        drop(held);
        finisher.join().unwrap();
        for a in admitters {
            a.join().unwrap();
        }
        assert_eq!(order.lock().unwrap()[0], "finish");
    }
}
