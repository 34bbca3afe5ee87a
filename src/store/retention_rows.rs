//! What pruning is told (its cut-offs) and reports (`super::retention` says what is pruned).

/// How many of each were pruned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub notifications: u64,
    pub refunds: u64,
    pub pays: u64,
    /// Requests' own fields (pay and refund attempts).
    pub attempts: u64,
    pub settlements: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.notifications + self.refunds + self.pays + self.attempts + self.settlements
    }
}

/// What is old enough to prune: finished rows created before `finished_ms`, and among pay orders,
/// paid ones (refundable) only if also created before `paid_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    pub finished_ms: i64,
    pub paid_ms: i64,
}
