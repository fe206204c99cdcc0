//! The lock that serialises one tenant's steps, with two classes of waiter: steps that
//! finish work already accepted (recording a delivery, a call's result, an SMS reply, a due
//! timer, an acknowledgement) take their turn before steps that accept new work (a new
//! signal). Under overload new signals then wait longer, instead of accepted callers
//! waiting ever longer for their dial: measured with `redial bench ingest --clients 64
//! --tenants 8`, dials fell to a tenth of the accepted rate with one class. Neither std's
//! nor parking_lot's mutexes have priority classes, hence this small lock.

use std::sync::{Condvar, Mutex};

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
}

/// The turn of the step holding the lock; the next waiter goes when it drops.
#[must_use]
pub struct Turn<'a>(&'a TenantLock);

impl TenantLock {
    /// Waits for this tenant's turn in `priority`'s class.
    pub fn lock(&self, priority: Priority) -> Turn<'_> {
        let mut s = self.state.lock().unwrap();
        if priority == Priority::Finish {
            s.finishers_waiting += 1;
        }
        while s.held || (priority == Priority::Admit && s.finishers_waiting > 0) {
            s = self.released.wait(s).unwrap();
        }
        if priority == Priority::Finish {
            s.finishers_waiting -= 1;
        }
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
