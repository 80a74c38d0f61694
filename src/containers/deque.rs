//! [`ShmDeque`]: a ring buffer of at most `N` elements, inline, that a peer cannot break.

use core::fmt;
use core::iter::Chain;
use core::mem::{self, ManuallyDrop};
use core::slice;
use core::sync::atomic::{AtomicU32, Ordering};

use super::{wrap_add, Length};
use crate::shm_safe::{fingerprint, zeroed, ShmSafe, Zeroable};

/// A double-ended queue of at most `N` elements in a ring stored inline, safe to keep
/// in shared memory: a work queue between processes, behind a
/// [`Mutex`](crate::Mutex) and a [`Condvar`](crate::Condvar).
///
/// `#[repr(C)]`: a 32-bit head index, a 32-bit length, then `N` element slots. Each
/// operation reads the head once and reduces it modulo `N`, and reads the length
/// once and clamps it to `N`, so whatever bytes another process writes, the deque is
/// a valid deque of at most `N` elements. Unused slots hold zeros.
///
/// ```
/// use shmptr::ShmDeque;
///
/// let mut jobs = ShmDeque::<u32, 3>::new();
/// jobs.push_back(1).unwrap();
/// jobs.push_back(2).unwrap();
/// jobs.push_front(0).unwrap();
/// assert!(jobs.is_full());
/// assert_eq!(jobs.push_back(3), Err(3)); // full: the value comes back
/// assert_eq!(jobs.pop_front(), Some(0));
/// jobs.push_back(3).unwrap(); // wraps around the ring
/// assert_eq!(jobs.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
/// assert_eq!(jobs.pop_back(), Some(3));
/// assert_eq!((jobs.front(), jobs.back(), jobs.len()), (Some(&1), Some(&2), 2));
/// jobs.clear();
/// assert!(jobs.is_empty());
/// ```
///
/// A work queue between processes:
///
/// ```
/// # fn main() -> Result<(), shmptr::Error> {
/// use shmptr::ShmDeque;
/// use shmptr_arena::{arena_space, Condvar, Mutex, Shared};
///
/// arena_space!(Space, 64 * 1024); // any backend; here static memory
/// type Queue = (Mutex<ShmDeque<u32, 64>, Space>, Condvar<Space>);
/// let q = Shared::<Queue, Space>::create("queue", (Mutex::new(ShmDeque::new()), Condvar::new()))?;
/// // Producer (in any process):
/// q.0.lock().unwrap().push_back(7).unwrap();
/// q.1.notify_one();
/// // Consumer (in any process):
/// let mut jobs = q.1.wait_while(q.0.lock().unwrap(), |d| d.is_empty()).unwrap();
/// assert_eq!(jobs.pop_front(), Some(7));
/// # Ok(()) }
/// ```
#[repr(C)]
pub struct ShmDeque<T: ShmSafe, const N: usize> {
    /// The slot of the front element; any value, reduced modulo `N` when read.
    head: AtomicU32,
    len: Length<N>,
    /// Every slot is always a valid `T`; only the `len` slots from `head` (around the
    /// ring) are live, and only those are dropped (by hand: hence `ManuallyDrop`).
    items: ManuallyDrop<[T; N]>,
}

impl<T: ShmSafe, const N: usize> ShmDeque<T, N> {
    /// An empty deque (all of its bytes zero).
    pub const fn new() -> Self {
        ShmDeque { head: AtomicU32::new(0), len: Length::new(), items: ManuallyDrop::new(zeroed()) }
    }

    /// The head (`< N`) and the length (`<= N`), each read once, whatever a peer wrote.
    fn state(&self) -> (usize, usize) {
        if N == 0 {
            return (0, 0);
        }
        // Relaxed: a value to reduce, not a synchronization point (see `Length::get`).
        let head = self.head.load(Ordering::Relaxed) as usize % N;
        (head, self.len.get())
    }

    /// Stores the head (`< N`, so it fits the 32-bit word: `Length` checks `N`).
    fn set_head(&self, head: usize) {
        // Relaxed: see `state`.
        self.head.store(head as u32, Ordering::Relaxed);
    }

    /// The number of elements: the stored length clamped to `N`.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether the deque holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the deque holds `N` elements.
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// The most elements the deque can hold: `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Appends `value` at the back; gives it back if the deque is full.
    pub fn push_back(&mut self, value: T) -> Result<(), T> {
        let (head, len) = self.state();
        if len == N {
            return Err(value);
        }
        // `len < N`, so `N > 0` and `head < N`. The slot after the last element is
        // unused: it holds zeros or a peer's bytes, overwritten without a drop.
        mem::forget(mem::replace(&mut self.items[wrap_add::<N>(head, len)], value));
        self.len.set(len + 1);
        Ok(())
    }

    /// Inserts `value` at the front; gives it back if the deque is full.
    pub fn push_front(&mut self, value: T) -> Result<(), T> {
        let (head, len) = self.state();
        if len == N {
            return Err(value);
        }
        // `len < N`, so `N > 0` and `head < N`; the slot before the head is unused.
        let slot = if head == 0 { N - 1 } else { head - 1 };
        mem::forget(mem::replace(&mut self.items[slot], value));
        self.set_head(slot);
        self.len.set(len + 1);
        Ok(())
    }

    /// Removes and returns the front element, or `None` if the deque is empty.
    pub fn pop_front(&mut self) -> Option<T> {
        let (head, len) = self.state();
        if len == 0 {
            return None;
        }
        self.set_head(wrap_add::<N>(head, 1));
        self.len.set(len - 1);
        // Leave zeros behind, so a forged length cannot bring the moved-out value back.
        Some(mem::replace(&mut self.items[head], zeroed()))
    }

    /// Removes and returns the back element, or `None` if the deque is empty.
    pub fn pop_back(&mut self) -> Option<T> {
        let (head, len) = self.state();
        if len == 0 {
            return None;
        }
        self.len.set(len - 1);
        Some(mem::replace(&mut self.items[wrap_add::<N>(head, len - 1)], zeroed()))
    }

    /// The front element, if any.
    pub fn front(&self) -> Option<&T> {
        let (first, second) = self.as_slices();
        first.first().or(second.first())
    }

    /// The back element, if any.
    pub fn back(&self) -> Option<&T> {
        let (first, second) = self.as_slices();
        second.last().or(first.last())
    }

    /// The front element, mutably, if any.
    pub fn front_mut(&mut self) -> Option<&mut T> {
        let (first, second) = self.as_mut_slices();
        first.first_mut().or(second.first_mut())
    }

    /// The back element, mutably, if any.
    pub fn back_mut(&mut self) -> Option<&mut T> {
        let (first, second) = self.as_mut_slices();
        second.last_mut().or(first.last_mut())
    }

    /// The ranges of the two slices that hold the elements, front to back.
    fn ranges(&self) -> (core::ops::Range<usize>, core::ops::Range<usize>) {
        let (head, len) = self.state();
        // `head < N` (or `N == 0` and all is empty) and `len <= N`.
        let first = len.min(N - head);
        (head..head + first, 0..len - first)
    }

    /// The elements, front to back, as two slices: the first up to the end of the
    /// ring, the second from its start.
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let (first, second) = self.ranges();
        (&self.items[first], &self.items[second])
    }

    /// The elements, front to back, as two mutable slices.
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let (first, second) = self.ranges();
        // `first` starts at or after the end of `second` (`head >= len - first.len()`).
        let (start, end) = self.items.split_at_mut(first.start);
        (&mut end[..first.len()], &mut start[second])
    }

    /// The elements, front to back.
    pub fn iter(&self) -> Chain<slice::Iter<'_, T>, slice::Iter<'_, T>> {
        let (first, second) = self.as_slices();
        first.iter().chain(second)
    }

    /// The elements, front to back, mutably.
    pub fn iter_mut(&mut self) -> Chain<slice::IterMut<'_, T>, slice::IterMut<'_, T>> {
        let (first, second) = self.as_mut_slices();
        first.iter_mut().chain(second)
    }

    /// Drops every element.
    pub fn clear(&mut self) {
        let (head, len) = self.state();
        // Empty first: if a `drop` panics, the rest leak, none is dropped twice.
        self.set_head(0);
        self.len.set(0);
        if mem::needs_drop::<T>() {
            for k in 0..len {
                drop(mem::replace(&mut self.items[wrap_add::<N>(head, k)], zeroed()));
            }
        }
    }
}

impl<T: ShmSafe, const N: usize> Drop for ShmDeque<T, N> {
    fn drop(&mut self) {
        self.clear();
    }
}

// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: `#[repr(C)]`: two atomics and `N` slots of `T: ShmSafe`. Every bit pattern
// is valid and safe: the head is reduced modulo `N` and the length clamped to `N` on
// every read, and every slot's bytes are a valid `T` whatever they are. No pointers.
// The fingerprint records name, size, alignment, `N` and the element's fingerprint.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for ShmDeque<T, N> {
    const FINGERPRINT: u64 = fingerprint::container::<Self>("shmptr::ShmDeque", N, T::FINGERPRINT);
}
// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: all-zero is the empty deque (head 0, length 0, zeroed slots).
unsafe impl<T: ShmSafe, const N: usize> Zeroable for ShmDeque<T, N> {}

impl<T: ShmSafe, const N: usize> Default for ShmDeque<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, T: ShmSafe, const N: usize> IntoIterator for &'a ShmDeque<T, N> {
    type Item = &'a T;
    type IntoIter = Chain<slice::Iter<'a, T>, slice::Iter<'a, T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T: ShmSafe, const N: usize> IntoIterator for &'a mut ShmDeque<T, N> {
    type Item = &'a mut T;
    type IntoIter = Chain<slice::IterMut<'a, T>, slice::IterMut<'a, T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<T: ShmSafe + fmt::Debug, const N: usize> fmt::Debug for ShmDeque<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: ShmSafe + Clone, const N: usize> From<&heapless::Deque<T, N>> for ShmDeque<T, N> {
    /// Clones the elements of a heapless deque of the same capacity, front to back.
    fn from(deque: &heapless::Deque<T, N>) -> Self {
        let mut copy = Self::new();
        for value in deque {
            // Cannot fail: at most `N` elements into an empty deque of capacity `N`.
            let _ = copy.push_back(value.clone());
        }
        copy
    }
}

impl<T: ShmSafe + Clone, const N: usize> From<&ShmDeque<T, N>> for heapless::Deque<T, N> {
    /// Clones the elements into a local heapless deque of the same capacity.
    fn from(deque: &ShmDeque<T, N>) -> Self {
        let mut copy = heapless::Deque::new();
        for value in deque {
            // Cannot fail: at most `N` elements into an empty deque of capacity `N`.
            let _ = copy.push_back(value.clone());
        }
        copy
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // tests write bytes as a peer would
mod tests {
    use super::*;
    use crate::containers::counted::{drops, since, Counted};

    /// What a peer does: writes the head and length words, through a raw pointer.
    fn forge<T: ShmSafe, const N: usize>(deque: &mut ShmDeque<T, N>, head: u32, len: u32) {
        let base = (deque as *mut ShmDeque<T, N>).cast::<u8>();
        let head_word = base.wrapping_add(mem::offset_of!(ShmDeque<T, N>, head)).cast::<u32>();
        let len_word = base.wrapping_add(mem::offset_of!(ShmDeque<T, N>, len)).cast::<u32>();
        // SAFETY: the two 4-aligned atomic words of a live, exclusively borrowed deque
        // (`repr(C)`); any u32 is a valid head or length.
        unsafe {
            head_word.write(head);
            len_word.write(len);
        }
    }

    fn contents<const N: usize>(deque: &ShmDeque<u32, N>) -> Vec<u32> {
        deque.iter().copied().collect()
    }

    #[test]
    fn forged_indices_are_reduced_and_clamped() {
        let mut deque = ShmDeque::<u32, 4>::new();
        for i in 1..=4 {
            deque.push_back(i).unwrap();
        }
        forge(&mut deque, u32::MAX, u32::MAX); // head u32::MAX % 4 == 3
        assert_eq!(deque.len(), 4);
        assert_eq!(contents(&deque), [4, 1, 2, 3]);
        assert_eq!(deque.push_back(9), Err(9));
        assert_eq!(deque.push_front(9), Err(9));
        assert_eq!(deque.pop_front(), Some(4));
        assert_eq!(deque.pop_back(), Some(3));
        assert_eq!(contents(&deque), [1, 2]);
        forge(&mut deque, 6, 3); // head 2: slots 2, 3 (zeroed by pop_back), 0 (popped)
        assert_eq!(contents(&deque), [0, 0, 1]);
        let (first, second) = deque.as_mut_slices();
        assert_eq!((first.len(), second.len()), (2, 1));
    }

    #[test]
    fn any_bytes_are_a_valid_deque() {
        for byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut deque = ShmDeque::<u16, 3>::new();
            // SAFETY: writes bytes over a live `ShmDeque<u16, 3>`, whose every bit
            // pattern is valid (the claim under test); a peer can do the same.
            unsafe { core::ptr::write_bytes(&mut deque as *mut ShmDeque<u16, 3>, byte, 1) };
            assert!(deque.len() <= 3);
            let _ = format!("{deque:?} {:?} {:?}", deque.front(), deque.back());
            let _ = deque.front_mut();
            let _ = deque.back_mut();
            for value in &mut deque {
                *value = 1;
            }
            while deque.pop_back().is_some() {}
            assert!(deque.is_empty());
            deque.push_back(9).unwrap();
            assert_eq!(deque.pop_front(), Some(9));
        }
    }

    #[test]
    fn zero_capacity_is_always_empty_and_full() {
        let mut deque = ShmDeque::<u64, 0>::new();
        forge(&mut deque, 5, 5);
        assert_eq!((deque.len(), deque.is_empty(), deque.is_full()), (0, true, true));
        assert_eq!(deque.push_back(1), Err(1));
        assert_eq!(deque.push_front(1), Err(1));
        assert_eq!((deque.pop_front(), deque.pop_back()), (None, None));
        assert_eq!(deque.iter().count(), 0);
        deque.clear();
    }

    #[test]
    fn a_ring_keeps_order_across_the_wrap() {
        let mut deque = ShmDeque::<u32, 3>::new();
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..20 {
            while deque.push_back(next_in).is_ok() {
                next_in += 1;
            }
            assert!(deque.is_full());
            for _ in 0..(round % 3 + 1) {
                assert_eq!(deque.pop_front(), Some(next_out));
                next_out += 1;
            }
        }
        deque.push_front(100).ok();
        assert_eq!(deque.front(), Some(&100));
        let local = heapless::Deque::from(&deque);
        let again = ShmDeque::from(&local);
        assert_eq!(contents(&again), contents(&deque));
    }

    #[test]
    fn drop_drops_each_live_element_once_and_no_unused_slot() {
        let before = drops();
        {
            let mut deque = ShmDeque::<Counted, 4>::new();
            deque.push_back(Counted { id: 1 }).unwrap();
            deque.push_back(Counted { id: 2 }).unwrap();
            deque.push_front(Counted { id: 3 }).unwrap(); // wraps to slot 3
            assert_eq!(deque.pop_back().map(|popped| popped.id), Some(2));
            assert_eq!(since(before), (1, 0));
        }
        assert_eq!(since(before), (3, 0), "no unused slot dropped");
    }

    #[test]
    fn a_forged_length_never_drops_a_moved_out_element_again() {
        let before = drops();
        let mut deque = ShmDeque::<Counted, 2>::new();
        deque.push_back(Counted { id: 1 }).unwrap();
        deque.push_back(Counted { id: 2 }).unwrap();
        drop(deque.pop_front());
        // Slot 0 was moved out (and zeroed); a peer makes it live again.
        forge(&mut deque, 0, 2);
        drop(deque);
        assert_eq!(since(before), (2, 1), "ids 1 and 2 once each, and the revived zeros");
    }

    #[test]
    fn zeroed_bytes_are_an_empty_deque() {
        let deque: ShmDeque<u32, 8> = crate::shm_safe::zeroed();
        assert!(deque.is_empty());
        assert_ne!(<ShmDeque<u32, 8> as ShmSafe>::FINGERPRINT, <ShmDeque<u32, 7> as ShmSafe>::FINGERPRINT);
        assert_ne!(<ShmDeque<u32, 8> as ShmSafe>::FINGERPRINT, <crate::ShmVec<u32, 8> as ShmSafe>::FINGERPRINT);
    }
}
