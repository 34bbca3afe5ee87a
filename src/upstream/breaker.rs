//! A circuit breaker per upstream: after N consecutive failures it opens and calls fail fast
//! (nothing is sent); after a cool-down one probe is let through (half-open), and its outcome
//! closes or re-opens the circuit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
pub struct Breaker {
    name: String,
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

/// Permission to call, to be reported back with [`Breaker::record`].
#[derive(Debug, PartialEq, Eq)]
pub enum Permit {
    Call,
    Probe,
}

/// A permit that cannot be forgotten: dropped without an outcome (the caller's future was
/// cancelled, for instance by a client that went away), it gives a probe back so that the next
/// call may probe, instead of leaving the circuit half-open for ever.
#[derive(Debug)]
pub struct PermitGuard<'a> {
    breaker: &'a Breaker,
    permit: Option<Permit>,
}

impl PermitGuard<'_> {
    pub fn record(mut self, success: bool) {
        if let Some(permit) = self.permit.take() {
            self.breaker.record(permit, success);
        }
    }
}

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        if self.permit.take() == Some(Permit::Probe) {
            if let Ok(mut state) = self.breaker.state.lock() {
                if *state == (State::HalfOpen { probing: true }) {
                    *state = State::HalfOpen { probing: false };
                }
            }
        }
    }
}

impl Breaker {
    /// `threshold` 0 disables the breaker.
    pub fn new(name: &str, threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            name: name.to_owned(),
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// `None`: the circuit is open, do not call.
    pub fn guard(&self) -> Option<PermitGuard<'_>> {
        self.permit().map(|permit| PermitGuard {
            breaker: self,
            permit: Some(permit),
        })
    }

    /// `None`: the circuit is open, do not call.
    pub fn permit(&self) -> Option<Permit> {
        if self.threshold == 0 {
            return Some(Permit::Call);
        }
        let Ok(mut state) = self.state.lock() else {
            return Some(Permit::Call);
        };
        match *state {
            State::Closed { .. } => Some(Permit::Call),
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen { probing: true };
                self.gauge(0.5);
                Some(Permit::Probe)
            }
            State::Open { .. } => None,
            State::HalfOpen { probing: true } => None,
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Some(Permit::Probe)
            }
        }
    }

    pub fn record(&self, permit: Permit, success: bool) {
        if self.threshold == 0 {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let next = match (*state, success) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 >= self.threshold => self.open(),
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            (State::HalfOpen { .. }, false) if permit == Permit::Probe => self.open(),
            (other, false) => other,
        };
        if matches!(next, State::Closed { .. }) && !matches!(*state, State::Closed { .. }) {
            tracing::info!(upstream = self.name.as_str(), "circuit closed");
            self.gauge(0.0);
        }
        *state = next;
    }

    fn open(&self) -> State {
        tracing::warn!(upstream = self.name.as_str(), cooldown = ?self.cooldown, "circuit open: calls fail fast");
        self.gauge(1.0);
        State::Open {
            until: Instant::now() + self.cooldown,
        }
    }

    fn gauge(&self, value: f64) {
        metrics::gauge!("paybridge_circuit_state", "upstream" => self.name.clone()).set(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_probes_once() {
        let b = Breaker::new("u", 2, Duration::from_millis(20));
        let p = b.permit().unwrap();
        b.record(p, false);
        let p = b.permit().unwrap();
        b.record(p, false);
        assert_eq!(b.permit(), None, "open");
        std::thread::sleep(Duration::from_millis(30));
        let probe = b.permit().unwrap();
        assert_eq!(probe, Permit::Probe);
        assert_eq!(b.permit(), None, "one probe at a time");
        b.record(probe, false);
        assert_eq!(b.permit(), None, "re-opened");
        std::thread::sleep(Duration::from_millis(30));
        let probe = b.permit().unwrap();
        b.record(probe, true);
        assert_eq!(b.permit(), Some(Permit::Call), "closed");
    }

    #[test]
    fn a_forgotten_probe_is_given_back() {
        let b = Breaker::new("u", 1, Duration::from_millis(10));
        b.record(b.permit().unwrap(), false);
        std::thread::sleep(Duration::from_millis(20));
        let probe = b.guard().unwrap();
        assert!(b.guard().is_none(), "one probe at a time");
        drop(probe);
        let again = b.guard().expect("a new probe once the first was abandoned");
        again.record(true);
        assert_eq!(b.permit(), Some(Permit::Call));
    }

    #[test]
    fn a_success_resets_the_count_and_zero_disables() {
        let b = Breaker::new("u", 2, Duration::from_secs(60));
        b.record(Permit::Call, false);
        b.record(Permit::Call, true);
        b.record(Permit::Call, false);
        assert!(b.permit().is_some());
        let off = Breaker::new("u", 0, Duration::from_secs(60));
        for _ in 0..10 {
            off.record(Permit::Call, false);
        }
        assert!(off.permit().is_some());
    }
}
