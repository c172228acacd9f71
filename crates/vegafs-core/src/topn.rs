//! A bounded "N largest" collection: a min-heap that asks before the caller builds a path.
//!
//! The order is total (size descending, then item ascending), so the N kept do not depend on the
//! order items arrive in: per-thread collections merge into the same answer every run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Clone)]
pub struct TopN<T: Ord> {
    cap: usize,
    /// The top of this heap is the first to go: the smallest size, and among equal sizes the
    /// largest item.
    heap: BinaryHeap<Reverse<(u64, Reverse<T>)>>,
}

impl<T: Ord> TopN<T> {
    pub fn new(cap: usize) -> Self {
        // The heap grows as items come: a huge `cap` costs nothing until that many are kept.
        TopN { cap, heap: BinaryHeap::with_capacity(cap.min(1024) + 1) }
    }

    /// Whether an item of this size could get in (a tie may, depending on the item); lets the
    /// caller skip building it.
    pub fn accepts(&self, size: u64) -> bool {
        if self.heap.len() < self.cap {
            return true;
        }
        matches!(self.heap.peek(), Some(Reverse((min, _))) if size >= *min)
    }

    pub fn push(&mut self, size: u64, item: T) {
        if self.cap == 0 {
            return;
        }
        self.heap.push(Reverse((size, Reverse(item))));
        if self.heap.len() > self.cap {
            self.heap.pop();
        }
    }

    pub fn merge(&mut self, other: TopN<T>) {
        for Reverse((size, Reverse(item))) in other.heap {
            self.push(size, item);
        }
    }

    /// Largest first; equal sizes in ascending item order, so output is deterministic.
    pub fn into_sorted(self) -> Vec<(u64, T)> {
        let mut v: Vec<(u64, T)> =
            self.heap.into_iter().map(|Reverse((size, Reverse(item)))| (size, item)).collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::TopN;

    #[test]
    fn a_huge_cap_reserves_nothing_up_front() {
        let mut t = TopN::new(usize::MAX);
        t.push(3, "a");
        t.push(5, "b");
        assert_eq!(t.into_sorted(), vec![(5, "b"), (3, "a")]);
    }

    #[test]
    fn keeps_the_n_largest_sorted() {
        let mut t = TopN::new(3);
        for (s, n) in [(5, "e"), (1, "a"), (9, "i"), (7, "g"), (7, "f"), (2, "b")] {
            if t.accepts(s) {
                t.push(s, n);
            }
        }
        assert_eq!(t.into_sorted(), vec![(9, "i"), (7, "f"), (7, "g")]);
    }

    #[test]
    fn ties_keep_the_smallest_items_whatever_the_arrival_order() {
        for order in [["b", "a", "d", "c"], ["d", "c", "b", "a"], ["a", "b", "c", "d"]] {
            let mut t = TopN::new(2);
            for item in order {
                if t.accepts(5) {
                    t.push(5, item);
                }
            }
            assert_eq!(t.into_sorted(), vec![(5, "a"), (5, "b")]);
        }
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut t = TopN::new(0);
        assert!(!t.accepts(10));
        t.push(10, "x");
        assert!(t.into_sorted().is_empty());
    }
}
