//! Which due notifications the worker starts next, and the count of those in flight.
//!
//! Two rules, so that one merchant's dead endpoint costs the others nothing:
//! - **Per-host cap:** at most `per_host` deliveries in flight to one host (`host:port`, the
//!   scheme's port if none is written). A host that never answers holds that many slots of the
//!   pool, never all of them; its other jobs wait in the outbox (not leased) for a slot of its own.
//! - **Fewest in flight first:** among the merchants with a job that may start, the one with the
//!   fewest deliveries in flight (counting those chosen in this round) goes next; ties go to the
//!   oldest due job. Merchant B with one job is picked before merchant A's next, however many
//!   A has due. Within one merchant, jobs go oldest due first.
//!
//! Pure bookkeeping, no I/O: the worker (`super`) reads the candidates from the outbox in
//! merchants' turns, asks [`pick`] which to lease, and tells [`InFlight`] when each finishes.

use std::collections::{HashMap, HashSet};

use crate::store::DueNotification;

/// The host a notification goes to, as the cap counts it: `host:port` in lower case, the
/// scheme's default port if none is written; an unparsable URL is its own "host" (its attempt
/// fails at once anyway).
pub(crate) fn host_of(url: &str) -> String {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return url.to_owned();
    };
    let Some(host) = uri.host() else {
        return url.to_owned();
    };
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => 443,
        _ => 80,
    });
    format!("{}:{port}", host.to_ascii_lowercase())
}

/// The deliveries in flight on this instance, by host and by merchant.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    by_host: HashMap<String, usize>,
    by_merchant: HashMap<String, usize>,
}

impl InFlight {
    pub(crate) fn start(&mut self, mch_no: &str, host: &str) {
        *self.by_host.entry(host.to_owned()).or_default() += 1;
        *self.by_merchant.entry(mch_no.to_owned()).or_default() += 1;
    }

    pub(crate) fn finish(&mut self, mch_no: &str, host: &str) {
        decrement(&mut self.by_host, host);
        decrement(&mut self.by_merchant, mch_no);
    }

    pub(crate) fn to_host(&self, host: &str) -> usize {
        self.by_host.get(host).copied().unwrap_or(0)
    }

    pub(crate) fn of_merchant(&self, mch_no: &str) -> usize {
        self.by_merchant.get(mch_no).copied().unwrap_or(0)
    }
}

/// Drops a count that reaches 0, so that the maps hold only what is in flight.
fn decrement(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// Up to `free` of `candidates` to start now, in the order to start them, under the two rules
/// of the module doc, given what is already in flight. Candidates of a host at its cap are
/// passed over (they stay in the outbox).
pub(crate) fn pick(
    candidates: &[DueNotification],
    in_flight: &InFlight,
    free: usize,
    per_host: usize,
) -> Vec<i64> {
    let hosts: Vec<String> = candidates.iter().map(|c| host_of(&c.url)).collect();
    let mut taken = vec![false; candidates.len()];
    let mut host_load: HashMap<&str, usize> = HashMap::new();
    let mut merchant_load: HashMap<&str, usize> = HashMap::new();
    let mut picked = Vec::new();
    while picked.len() < free {
        // Each merchant's first candidate that may start: its oldest due whose host has room.
        let mut best: Option<(usize, (usize, i64, i64))> = None;
        let mut seen: HashSet<&str> = HashSet::new();
        for (i, c) in candidates.iter().enumerate() {
            if taken[i] || seen.contains(c.mch_no.as_str()) {
                continue;
            }
            let host = hosts[i].as_str();
            let on_host = in_flight.to_host(host) + host_load.get(host).copied().unwrap_or(0);
            if on_host >= per_host {
                continue;
            }
            seen.insert(c.mch_no.as_str());
            let load = in_flight.of_merchant(&c.mch_no)
                + merchant_load.get(c.mch_no.as_str()).copied().unwrap_or(0);
            let rank = (load, c.next_attempt_at_ms, c.id);
            if best.is_none_or(|(_, r)| rank < r) {
                best = Some((i, rank));
            }
        }
        let Some((i, _)) = best else { break };
        taken[i] = true;
        *host_load.entry(hosts[i].as_str()).or_default() += 1;
        *merchant_load
            .entry(candidates[i].mch_no.as_str())
            .or_default() += 1;
        picked.push(candidates[i].id);
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(id: i64, mch_no: &str, url: &str, at: i64) -> DueNotification {
        DueNotification {
            id,
            mch_no: mch_no.to_owned(),
            url: url.to_owned(),
            next_attempt_at_ms: at,
        }
    }

    /// A's backlog, all older than B's one job, to A's one host.
    fn backlog(n: i64) -> Vec<DueNotification> {
        let mut jobs: Vec<_> = (0..n)
            .map(|i| due(i, "A", "http://a.example/n", i))
            .collect();
        jobs.push(due(1_000, "B", "https://b.example/n", 5_000));
        jobs
    }

    #[test]
    fn hosts_are_counted_by_name_and_port_whatever_the_case_or_path() {
        assert_eq!(host_of("http://Shop.Example/notify?x=1"), "shop.example:80");
        assert_eq!(host_of("https://shop.example/a"), "shop.example:443");
        assert_eq!(host_of("https://shop.example:443/b"), "shop.example:443");
        assert_eq!(host_of("http://127.0.0.1:8080/n"), "127.0.0.1:8080");
        assert_eq!(host_of("http://[::1]:9/n"), "[::1]:9");
        assert_eq!(host_of("not a url"), "not a url");
    }

    #[test]
    fn a_host_gets_no_more_than_its_cap_and_the_rest_of_the_pool_goes_elsewhere() {
        let picked = pick(&backlog(48), &InFlight::default(), 32, 4);
        assert_eq!(picked.len(), 5, "{picked:?}");
        assert!(picked.contains(&1_000), "B's job starts with A's first");
        let a: Vec<i64> = picked.iter().copied().filter(|id| *id < 1_000).collect();
        assert_eq!(a, vec![0, 1, 2, 3], "A's oldest, in order, up to the cap");
    }

    #[test]
    fn a_merchant_with_nothing_in_flight_goes_before_one_with_a_backlog() {
        // A's jobs to many hosts: the cap does not bind, fairness must.
        let mut jobs: Vec<_> = (0..40)
            .map(|i| due(i, "A", &format!("http://a{i}.example/n"), i))
            .collect();
        jobs.push(due(100, "B", "http://b.example/n", 10_000));
        let mut in_flight = InFlight::default();
        for i in 0..31 {
            in_flight.start("A", &format!("a-old{i}.example:80"));
        }
        // One slot free: B's, though A's 40 are older.
        assert_eq!(pick(&jobs, &in_flight, 1, 4), vec![100]);
        // Three free, nothing in flight: A and B alternate, A first (its job is older).
        assert_eq!(pick(&jobs, &InFlight::default(), 3, 4), vec![0, 100, 1]);
    }

    #[test]
    fn within_a_merchant_the_oldest_due_goes_first_past_a_full_host() {
        let jobs = vec![
            due(1, "A", "http://stuck.example/n", 1),
            due(2, "A", "http://stuck.example/n", 2),
            due(3, "A", "http://fine.example/n", 3),
        ];
        let mut in_flight = InFlight::default();
        in_flight.start("A", "stuck.example:80");
        assert_eq!(pick(&jobs, &in_flight, 8, 1), vec![3]);
        assert_eq!(pick(&jobs, &InFlight::default(), 8, 1), vec![1, 3]);
    }

    #[test]
    fn finishing_frees_the_host_and_the_merchant() {
        let mut in_flight = InFlight::default();
        let a = "a.example:80";
        in_flight.start("A", a);
        in_flight.start("A", a);
        assert_eq!((in_flight.to_host(a), in_flight.of_merchant("A")), (2, 2));
        let jobs = backlog(3);
        assert_eq!(
            pick(&jobs, &in_flight, 8, 2),
            vec![1_000],
            "A's host is full"
        );
        in_flight.finish("A", a);
        assert_eq!(pick(&jobs, &in_flight, 8, 2), vec![1_000, 0]);
        in_flight.finish("A", a);
        in_flight.finish("A", a);
        assert_eq!((in_flight.to_host(a), in_flight.of_merchant("A")), (0, 0));
        assert!(in_flight.by_host.is_empty() && in_flight.by_merchant.is_empty());
    }

    #[test]
    fn nothing_free_or_nothing_due_picks_nothing() {
        assert!(pick(&backlog(3), &InFlight::default(), 0, 4).is_empty());
        assert!(pick(&[], &InFlight::default(), 8, 4).is_empty());
    }
}
