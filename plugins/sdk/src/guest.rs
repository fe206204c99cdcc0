//! What a guest needs from the platform when it does without `std` (see the crate docs):
//! the C memory functions, and the canonical ABI's allocator.

// On wasm32-wasip2 the compiler leaves `memcpy`, `memcmp` and the like to wasi-libc. A
// `no_std` plugin links them from its `libc.a`; those string functions import nothing.
#[cfg(target_os = "wasi")]
#[link(name = "c")]
unsafe extern "C" {}

/// The allocator the host calls to place a call's arguments in guest memory. With `std`,
/// wasi-libc exports one on top of its `malloc`; here it is the Rust global allocator, the
/// SDK's arena, which also serves these allocations faster. (wasi-libc's is weak, so a
/// `std` plugin gets this one too.)
///
/// # Safety
/// The canonical ABI's contract: `old_ptr`/`old_len` describe a block this function
/// returned earlier (or are 0), and `align` is a power of two.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, handle_alloc_error, realloc};
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the caller passes a power-of-two alignment and a block from this allocator.
    unsafe {
        let wanted = Layout::from_size_align_unchecked(new_len, align);
        let ptr = if old_len == 0 {
            alloc(wanted)
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        };
        if ptr.is_null() {
            handle_alloc_error(wanted);
        }
        ptr
    }
}
