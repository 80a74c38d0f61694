//! [`ShmVec`]: a vector of at most `N` elements, inline, that a peer cannot break.

use core::fmt;
use core::mem::{self, ManuallyDrop};
use core::ops::{Deref, DerefMut};

use super::{CapacityError, Length};
use crate::shm_safe::{fingerprint, zeroed, ShmSafe, Zeroable};

/// A vector of at most `N` elements stored inline, safe to keep in shared memory.
///
/// `#[repr(C)]`: a 32-bit length, then `N` element slots. The length is read once per
/// operation and clamped to `N`, so whatever bytes another process writes, the vector
/// is a valid vector of at most `N` elements (see [`ShmSafe`] on why
/// heapless's `Vec` cannot be used in shared memory). Unused slots hold zeros, which
/// are a valid `T` for every `T: ShmSafe`.
///
/// It dereferences to `[T]` (the clamped live part), so slices' methods and iteration
/// work as usual. A full vector gives the value back:
///
/// ```
/// use shmptr::ShmVec;
///
/// let mut ids = ShmVec::<u32, 3>::new();
/// ids.push(7).unwrap();
/// ids.extend_from_slice(&[8, 9]).unwrap();
/// assert_eq!(ids.push(10), Err(10)); // full: the value comes back
/// assert_eq!(ids.as_slice(), &[7, 8, 9]);
/// assert_eq!(ids.iter().sum::<u32>(), 24);
/// assert_eq!(ids.pop(), Some(9));
/// ids[0] = 70;
/// assert_eq!(&ids[..], &[70, 8]);
///
/// let copy = ShmVec::<u32, 3>::try_from(&[1, 2][..]).unwrap();
/// assert_eq!(copy.len(), 2);
/// ```
///
/// Inside a shared object it needs exclusive access to change, e.g. a
/// [`Mutex`](crate::Mutex):
///
/// ```
/// # fn main() -> Result<(), shmptr::Error> {
/// use shmptr::ShmVec;
/// use shmptr_arena::{arena_space, Mutex, Shared};
///
/// arena_space!(Space, 64 * 1024); // any backend; here static memory
/// let list = Shared::<Mutex<ShmVec<u64, 16>, Space>, Space>::create_zeroed("list")?; // zero = empty
/// list.lock().unwrap().push(42).unwrap();
/// assert_eq!(list.lock().unwrap().as_slice(), &[42]);
/// # Ok(()) }
/// ```
#[repr(C)]
pub struct ShmVec<T: ShmSafe, const N: usize> {
    len: Length<N>,
    /// Every slot is always a valid `T`; only `..len` are live, and only those are
    /// dropped (by hand: hence `ManuallyDrop`).
    items: ManuallyDrop<[T; N]>,
}

impl<T: ShmSafe, const N: usize> ShmVec<T, N> {
    /// An empty vector (all of its bytes zero).
    pub const fn new() -> Self {
        ShmVec { len: Length::new(), items: ManuallyDrop::new(zeroed()) }
    }

    /// The number of elements: the stored length clamped to `N`.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether the vector holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the vector holds `N` elements.
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// The most elements the vector can hold: `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The elements, as a slice (of the clamped length).
    pub fn as_slice(&self) -> &[T] {
        let len = self.len.get();
        &self.items[..len]
    }

    /// The elements, as a mutable slice (of the clamped length).
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        let len = self.len.get();
        &mut self.items[..len]
    }

    /// Appends `value`; gives it back if the vector is full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        let len = self.len.get();
        if len == N {
            return Err(value);
        }
        // The slot is unused (`len..`): it holds zeros or a peer's bytes, which are
        // not an element of ours, so it is overwritten without being dropped.
        mem::forget(mem::replace(&mut self.items[len], value));
        self.len.set(len + 1);
        Ok(())
    }

    /// Removes and returns the last element, or `None` if the vector is empty.
    pub fn pop(&mut self) -> Option<T> {
        let len = self.len.get();
        if len == 0 {
            return None;
        }
        self.len.set(len - 1);
        // Leave zeros behind, so a forged length cannot bring the moved-out value back.
        Some(mem::replace(&mut self.items[len - 1], zeroed()))
    }

    /// Keeps the first `len` elements and drops the rest (nothing if `len` is not
    /// less than the length).
    pub fn truncate(&mut self, len: usize) {
        let old = self.len.get();
        if len >= old {
            return;
        }
        // Shorten first: if a `drop` panics, the rest leak, none is dropped twice.
        self.len.set(len);
        if mem::needs_drop::<T>() {
            for slot in &mut self.items[len..old] {
                drop(mem::replace(slot, zeroed()));
            }
        }
    }

    /// Drops every element.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Appends clones of `other`'s elements, all of them or, if they do not fit,
    /// none.
    pub fn extend_from_slice(&mut self, other: &[T]) -> Result<(), CapacityError>
    where
        T: Clone,
    {
        let len = self.len.get();
        if other.len() > N - len {
            return Err(CapacityError::new(N));
        }
        for (i, value) in other.iter().enumerate() {
            // Unused slots (`len..N`), as in `push`; the length grows with each one, so
            // a panicking `clone` leaves the elements written so far live.
            mem::forget(mem::replace(&mut self.items[len + i], value.clone()));
            self.len.set(len + i + 1);
        }
        Ok(())
    }
}

impl<T: ShmSafe, const N: usize> Drop for ShmVec<T, N> {
    fn drop(&mut self) {
        self.clear();
    }
}

// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: `#[repr(C)]`: an atomic length and `N` slots of `T: ShmSafe`. Every bit
// pattern is valid and safe: the length is clamped to `N` on every read, and every
// slot's bytes are a valid `T` whatever they are. No pointers. The fingerprint
// records name, size, alignment, `N` and the element's fingerprint.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for ShmVec<T, N> {
    const FINGERPRINT: u64 = fingerprint::container::<Self>("shmptr::ShmVec", N, T::FINGERPRINT);
}
// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: all-zero is the empty vector (length 0, zeroed slots).
unsafe impl<T: ShmSafe, const N: usize> Zeroable for ShmVec<T, N> {}

impl<T: ShmSafe, const N: usize> Default for ShmVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ShmSafe, const N: usize> Deref for ShmVec<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: ShmSafe, const N: usize> DerefMut for ShmVec<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<'a, T: ShmSafe, const N: usize> IntoIterator for &'a ShmVec<T, N> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a, T: ShmSafe, const N: usize> IntoIterator for &'a mut ShmVec<T, N> {
    type Item = &'a mut T;
    type IntoIter = core::slice::IterMut<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl<T: ShmSafe + fmt::Debug, const N: usize> fmt::Debug for ShmVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: ShmSafe + Clone, const N: usize> Clone for ShmVec<T, N> {
    fn clone(&self) -> Self {
        let mut copy = Self::new();
        // Cannot fail: at most `N` elements into an empty vector of capacity `N`.
        let _ = copy.extend_from_slice(self.as_slice());
        copy
    }
}

impl<T: ShmSafe + PartialEq, const N: usize, const M: usize> PartialEq<ShmVec<T, M>> for ShmVec<T, N> {
    fn eq(&self, other: &ShmVec<T, M>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: ShmSafe + Eq, const N: usize> Eq for ShmVec<T, N> {}

impl<T: ShmSafe + PartialEq, const N: usize> PartialEq<[T]> for ShmVec<T, N> {
    fn eq(&self, other: &[T]) -> bool {
        self.as_slice() == other
    }
}

impl<T: ShmSafe + Clone, const N: usize> TryFrom<&[T]> for ShmVec<T, N> {
    type Error = CapacityError;

    /// Clones the elements of `slice`, if they fit.
    fn try_from(slice: &[T]) -> Result<Self, CapacityError> {
        let mut vec = Self::new();
        vec.extend_from_slice(slice)?;
        Ok(vec)
    }
}

impl<T: ShmSafe + Clone, const N: usize> From<&heapless::Vec<T, N>> for ShmVec<T, N> {
    /// Clones the elements of a heapless vector of the same capacity.
    fn from(vec: &heapless::Vec<T, N>) -> Self {
        let mut copy = Self::new();
        // Cannot fail: at most `N` elements into an empty vector of capacity `N`.
        let _ = copy.extend_from_slice(vec);
        copy
    }
}

impl<T: ShmSafe + Clone, const N: usize> From<&ShmVec<T, N>> for heapless::Vec<T, N> {
    /// Clones the elements into a local heapless vector of the same capacity.
    fn from(vec: &ShmVec<T, N>) -> Self {
        let mut copy = heapless::Vec::new();
        // Cannot fail: at most `N` elements into an empty vector of capacity `N`.
        let _ = copy.extend_from_slice(vec.as_slice());
        copy
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // tests write bytes as a peer would
mod tests {
    use super::*;
    use crate::containers::counted::{drops, since, Counted};

    /// What a peer does: writes `len` into the length word, through a raw pointer.
    fn forge_len<T: ShmSafe, const N: usize>(vec: &mut ShmVec<T, N>, len: u32) {
        let word = (vec as *mut ShmVec<T, N>).cast::<u8>().wrapping_add(mem::offset_of!(ShmVec<T, N>, len));
        // SAFETY: the length word is the first field of a live, exclusively borrowed
        // vector, 4-aligned (`repr(C)`, an `AtomicU32`); any u32 is a valid length.
        unsafe { word.cast::<u32>().write(len) };
    }

    #[test]
    fn a_forged_length_is_clamped_to_the_capacity() {
        let mut vec = ShmVec::<u32, 4>::new();
        vec.extend_from_slice(&[1, 2]).unwrap();
        forge_len(&mut vec, u32::MAX);
        assert_eq!(vec.len(), 4);
        assert!(vec.is_full());
        assert_eq!(vec.as_slice(), &[1, 2, 0, 0], "unused slots read as zeros");
        assert_eq!(vec.push(5), Err(5));
        assert_eq!(vec.extend_from_slice(&[5]), Err(CapacityError::new(4)));
        assert_eq!(vec.pop(), Some(0));
        assert_eq!(vec.len(), 3);
        forge_len(&mut vec, 5);
        assert_eq!(vec.as_mut_slice().len(), 4);
        assert_eq!(vec.iter().count(), 4);
    }

    #[test]
    fn any_bytes_are_a_valid_vector() {
        for byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut vec = ShmVec::<u16, 3>::new();
            // SAFETY: writes bytes over a live `ShmVec<u16, 3>`, whose every bit pattern
            // is valid (the claim under test); a peer can do the same.
            unsafe { core::ptr::write_bytes(&mut vec as *mut ShmVec<u16, 3>, byte, 1) };
            assert!(vec.len() <= 3);
            let _ = format!("{vec:?}");
            while vec.pop().is_some() {}
            assert!(vec.is_empty());
            vec.push(9).unwrap();
            assert_eq!(vec.as_slice(), &[9]);
        }
    }

    #[test]
    fn zero_capacity_is_always_empty_and_full() {
        let mut vec = ShmVec::<u64, 0>::new();
        forge_len(&mut vec, 1000);
        assert_eq!((vec.len(), vec.is_empty(), vec.is_full()), (0, true, true));
        assert_eq!(vec.push(1), Err(1));
        assert_eq!(vec.pop(), None);
        assert_eq!(vec.as_slice(), &[] as &[u64]);
    }

    #[test]
    fn a_full_vector_gives_the_value_back() {
        let mut vec = ShmVec::<u8, 2>::try_from(&[1, 2][..]).unwrap();
        assert!(vec.is_full());
        assert_eq!(vec.push(3), Err(3));
        assert_eq!(ShmVec::<u8, 1>::try_from(&[1, 2][..]).unwrap_err().capacity(), 1);
        assert_eq!(vec.capacity(), 2);
        vec.clear();
        assert!(vec.is_empty());
    }

    #[test]
    fn drop_drops_each_live_element_once_and_no_unused_slot() {
        let before = drops();
        {
            let mut vec = ShmVec::<Counted, 4>::new();
            for id in 1..=3 {
                vec.push(Counted { id }).unwrap();
            }
            assert_eq!(vec.pop().map(|popped| popped.id), Some(3));
            assert_eq!(since(before), (1, 0), "the popped value");
        }
        assert_eq!(since(before), (3, 0), "two live elements dropped with the vector, no unused slot");
    }

    #[test]
    fn a_forged_length_never_drops_a_moved_out_element_again() {
        let before = drops();
        let mut vec = ShmVec::<Counted, 4>::new();
        vec.push(Counted { id: 1 }).unwrap();
        vec.push(Counted { id: 2 }).unwrap();
        drop(vec.pop());
        forge_len(&mut vec, 2);
        // The popped slot reads as zeros, not as the element that was moved out.
        assert_eq!(vec[1].id, 0);
        forge_len(&mut vec, 1);
        vec.truncate(0);
        assert_eq!(since(before), (2, 0));
        drop(vec);
        assert_eq!(since(before), (2, 0));
    }

    #[test]
    fn a_forged_length_drops_no_more_than_the_capacity() {
        let before = drops();
        let mut vec = ShmVec::<Counted, 2>::new();
        vec.push(Counted { id: 1 }).unwrap();
        vec.push(Counted { id: 2 }).unwrap();
        forge_len(&mut vec, u32::MAX);
        drop(vec);
        assert_eq!(since(before), (2, 0));
    }

    #[test]
    fn converts_to_and_from_heapless() {
        let mut local = heapless::Vec::<u32, 4>::new();
        local.extend_from_slice(&[1, 2, 3]).unwrap();
        let shared = ShmVec::from(&local);
        assert_eq!(shared, *[1, 2, 3].as_slice());
        let back = heapless::Vec::from(&shared);
        assert_eq!(back, local);
        assert_eq!(shared.clone(), shared);
    }

    #[test]
    fn zeroed_bytes_are_an_empty_vector() {
        let vec: ShmVec<u32, 8> = zeroed();
        assert!(vec.is_empty());
        assert_ne!(
            <ShmVec<u32, 8> as ShmSafe>::FINGERPRINT,
            <ShmVec<u32, 9> as ShmSafe>::FINGERPRINT,
            "the capacity is part of the fingerprint"
        );
        assert_ne!(<ShmVec<u32, 8> as ShmSafe>::FINGERPRINT, <ShmVec<i32, 8> as ShmSafe>::FINGERPRINT);
    }
}
