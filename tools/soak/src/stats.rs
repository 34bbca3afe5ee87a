//! Statistics, per kind of request.

use std::collections::BTreeMap;

#[derive(Default)]
pub(crate) struct KindStats {
    pub(crate) sent: u64,
    pub(crate) answered: u64,
    pub(crate) wrong: u64,
    pub(crate) outcomes: BTreeMap<&'static str, u64>,
    pub(crate) latencies_us: Vec<u32>,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) kinds: BTreeMap<&'static str, KindStats>,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) replays_seen: u64,
    pub(crate) shed: u64,
}

impl Stats {
    pub(crate) fn kind(&mut self, kind: &'static str) -> &mut KindStats {
        self.kinds.entry(kind).or_default()
    }

    pub(crate) fn merge(&mut self, other: Stats) {
        for (k, o) in other.kinds {
            let s = self.kind(k);
            s.sent += o.sent;
            s.answered += o.answered;
            s.wrong += o.wrong;
            for (label, n) in o.outcomes {
                *s.outcomes.entry(label).or_default() += n;
            }
            s.latencies_us.extend(o.latencies_us);
        }
        for (e, n) in other.errors {
            *self.errors.entry(e).or_default() += n;
        }
        self.replays_seen += other.replays_seen;
        self.shed += other.shed;
    }

    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        self.kinds.values().fold((0, 0, 0), |(s, a, w), k| {
            (s + k.sent, a + k.answered, w + k.wrong)
        })
    }
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}
