//! The guest's allocator: a bump arena.
//!
//! The host runs every decision in a fresh instance and drops the instance after the call,
//! so a plugin's heap lives for one call. A general-purpose allocator spends its work on
//! free lists that are never reused: a `perf` profile of the reference plugins put the
//! standard allocator (wasi-libc's dlmalloc) at half of the guest's own time. The arena
//! hands out memory by moving one pointer and takes back only the most recent block, so a
//! `Vec` or `String` growing at the top of the heap grows in place; the rest goes with the
//! instance.
//!
//! The first stretch (`FIRST` bytes) lives inside the arena, which is a zeroed static: it
//! is part of the instance's initial memory, so a decision that fits never calls
//! `memory.grow`. That matters: each growth costs the host an `mprotect` during the call
//! and another when the pooled instance is reset (2 µs a call, measured, for an arena that
//! took its first pages with `memory.grow`, as `lol_alloc`'s leaking allocator does). Past
//! the first stretch the arena takes pages from the host, so the host's memory cap still
//! bounds a plugin: growth past it fails and the allocation reports out-of-memory.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};

/// The wasm page size: `memory.grow` counts in these.
const PAGE: usize = 64 << 10;

/// Bytes served before the arena asks the host for pages: one wasm page. The reference
/// plugins' decisions use a few KB; an input with a long transcript may need more, and then
/// costs one `memory.grow`. (32 KiB and 128 KiB measured the same as this.)
const FIRST: usize = 64 << 10;

/// Where more pages come from.
pub trait Pages {
    /// Adds `pages` pages of memory; returns the address of the first, or `None` when the
    /// host refuses.
    fn grow(&self, pages: usize) -> Option<usize>;
}

/// The instance's own linear memory.
#[cfg(target_arch = "wasm32")]
pub struct LinearMemory;

#[cfg(target_arch = "wasm32")]
impl Pages for LinearMemory {
    fn grow(&self, pages: usize) -> Option<usize> {
        match core::arch::wasm32::memory_grow(0, pages) {
            usize::MAX => None,
            old => Some(old * PAGE),
        }
    }
}

#[repr(C, align(16))]
struct FirstStretch(UnsafeCell<[u8; FIRST]>);

/// A bump pointer over the first stretch, then over pages from `P`.
pub struct Arena<P> {
    /// The first free byte; 0 until the first allocation.
    next: Cell<usize>,
    /// The end of the block the arena is serving from.
    end: Cell<usize>,
    pages: P,
    first: FirstStretch,
}

// SAFETY: guests are single-threaded (wasm32-wasip2 has no threads), and nothing but the
// arena touches its cells.
unsafe impl<P> Sync for Arena<P> {}

impl<P: Pages> Arena<P> {
    /// An arena that serves its first stretch, then pages from `pages`.
    pub const fn new(pages: P) -> Self {
        Arena {
            next: Cell::new(0),
            end: Cell::new(0),
            pages,
            first: FirstStretch(UnsafeCell::new([0; FIRST])),
        }
    }

    /// Where `size` bytes aligned to `align` fit, taking more pages when the current block
    /// is full. Something else may have grown the memory since the arena last did (the C
    /// library's allocator, should anything call it): the arena then starts over at the
    /// new pages rather than assume they follow its own.
    fn place(&self, size: usize, align: usize) -> Option<usize> {
        if self.end.get() == 0 {
            let first = self.first.0.get() as usize;
            self.next.set(first);
            self.end.set(first + FIRST);
        }
        let start = self.next.get().checked_next_multiple_of(align)?;
        if start.checked_add(size)? <= self.end.get() {
            return Some(start);
        }
        let pages = size.checked_add(align)?.div_ceil(PAGE);
        let bytes = pages.checked_mul(PAGE)?;
        let base = self.pages.grow(pages)?;
        if base != self.end.get() {
            self.next.set(base);
        }
        self.end.set(base.checked_add(bytes)?);
        let start = self.next.get().checked_next_multiple_of(align)?;
        (start.checked_add(size)? <= self.end.get()).then_some(start)
    }
}

// SAFETY: blocks never overlap: `next` only moves back over the block that ends at it.
unsafe impl<P: Pages> GlobalAlloc for Arena<P> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.place(layout.size(), layout.align()) {
            Some(start) => {
                self.next.set(start + layout.size());
                start as *mut u8
            }
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let at = ptr as usize;
        let on_top = at + layout.size() == self.next.get();
        if new_size <= layout.size() || (on_top && at + new_size <= self.end.get()) {
            // Shrinking always fits; growing fits in place only at the top.
            if on_top {
                self.next.set(at + new_size);
            }
            return ptr;
        }
        // SAFETY: `GlobalAlloc::realloc`'s contract makes this layout valid.
        let moved =
            unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !moved.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this long.
            unsafe { core::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size)) };
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    /// Pages from a buffer on the host heap, with a cap, and a way to let "someone else"
    /// take pages in between.
    struct FakePages {
        buffer: Vec<u128>,
        used: Cell<usize>,
        cap: usize,
    }

    impl FakePages {
        fn new(cap_pages: usize) -> Self {
            FakePages {
                buffer: vec![0; cap_pages * PAGE / 16],
                used: Cell::new(0),
                cap: cap_pages,
            }
        }
    }

    impl Pages for FakePages {
        fn grow(&self, pages: usize) -> Option<usize> {
            let old = self.used.get();
            if old + pages > self.cap {
                return None;
            }
            self.used.set(old + pages);
            Some(self.buffer.as_ptr() as usize + old * PAGE)
        }
    }

    fn arena(cap_pages: usize) -> Box<Arena<FakePages>> {
        Box::new(Arena::new(FakePages::new(cap_pages)))
    }

    fn alloc(a: &Arena<FakePages>, size: usize, align: usize) -> *mut u8 {
        unsafe { a.alloc(Layout::from_size_align(size, align).unwrap()) }
    }

    #[test]
    fn serves_the_first_stretch_without_growing() {
        let a = arena(4);
        let x = alloc(&a, 100, 8);
        let y = alloc(&a, 100, 8);
        assert!(!x.is_null() && !y.is_null());
        assert!(y as usize >= x as usize + 100, "blocks overlap");
        assert_eq!(a.pages.used.get(), 0);
    }

    #[test]
    fn honours_alignment() {
        let a = arena(4);
        alloc(&a, 3, 1);
        for align in [2, 8, 64, 4096] {
            assert_eq!(alloc(&a, 5, align) as usize % align, 0);
        }
    }

    #[test]
    fn frees_and_grows_the_top_block_in_place() {
        let a = arena(4);
        let layout = Layout::from_size_align(16, 8).unwrap();
        let x = alloc(&a, 16, 8);
        let grown = unsafe { a.realloc(x, layout, 64) };
        assert_eq!(grown, x);
        unsafe { a.dealloc(grown, Layout::from_size_align(64, 8).unwrap()) };
        assert_eq!(alloc(&a, 8, 8), x, "the freed top block is reused");
    }

    #[test]
    fn shrinks_in_place_and_gives_back_the_top_tail() {
        let a = arena(4);
        let x = alloc(&a, 64, 8);
        let _above = alloc(&a, 8, 8);
        let layout = Layout::from_size_align(64, 8).unwrap();
        assert_eq!(
            unsafe { a.realloc(x, layout, 16) },
            x,
            "a block below the top"
        );
        let top = alloc(&a, 64, 8);
        assert_eq!(unsafe { a.realloc(top, layout, 16) }, top);
        assert_eq!(
            alloc(&a, 8, 8) as usize,
            top as usize + 16,
            "the tail is free again"
        );
    }

    #[test]
    fn moves_a_block_that_is_not_on_top_and_keeps_its_bytes() {
        let a = arena(4);
        let layout = Layout::from_size_align(4, 1).unwrap();
        let x = alloc(&a, 4, 1);
        unsafe { x.copy_from_nonoverlapping(b"abcd".as_ptr(), 4) };
        let _above = alloc(&a, 4, 1);
        let moved = unsafe { a.realloc(x, layout, 8) };
        assert_ne!(moved, x);
        assert_eq!(unsafe { core::slice::from_raw_parts(moved, 4) }, b"abcd");
    }

    #[test]
    fn takes_pages_past_the_first_stretch_until_the_cap() {
        let a = arena(3);
        assert!(!alloc(&a, FIRST, 1).is_null());
        let big = alloc(&a, PAGE + 1, 8);
        assert!(!big.is_null());
        assert_eq!(a.pages.used.get(), 2);
        assert!(alloc(&a, 2 * PAGE, 8).is_null(), "past the cap");
        assert!(!alloc(&a, 100, 8).is_null(), "room left in the last page");
    }

    #[test]
    fn starts_over_when_someone_else_took_the_next_pages() {
        let a = arena(8);
        alloc(&a, FIRST, 1);
        let first = alloc(&a, 10, 1) as usize;
        a.pages.grow(1); // another allocator's page
        alloc(&a, PAGE - 20, 1);
        let after = alloc(&a, 100, 1) as usize;
        let others = a.pages.buffer.as_ptr() as usize + PAGE;
        assert!(
            after >= others + PAGE || after < others,
            "served from a foreign page"
        );
        assert!(after > first);
    }
}
