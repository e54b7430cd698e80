//! Training keeps no more memory allocated after 200 steps than after 2: every tape,
//! gradient and temporary of a step is freed by the end of the step.
//!
//! A counting global allocator measures the bytes held. It counts every
//! allocation of the process, so this binary contains only this test, which
//! runs alone and prints nothing between the measurements.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{random_images, random_labels, small_net};
use snn::{Adam, train_step, train_step_unrolled};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; the
// counter only observes the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            HELD.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            HELD.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
            HELD.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn held() -> usize {
    HELD.load(Ordering::SeqCst)
}

/// A 20-30-5 network, 5 steps, batch 8, in f32 as training runs, through
/// the fused `train_step` and then the unrolled `train_step_unrolled`.
#[test]
fn training_memory_is_steady() {
    let images = random_images::<f32>(8, 20, 1);
    let labels = random_labels(8, 5, 2);
    let checkpoints = [2, 10, 50, 200];

    // Held bytes after each checkpoint step, for each kind of step. The
    // messages are formatted only after the loops, because formatting
    // allocates.
    let mut measured = Vec::new();
    for unrolled in [false, true] {
        let mut net = small_net::<f32>(20, 30, 5, 5, 3);
        let mut adam = Adam::new(5e-4);
        let mut at_checkpoints = Vec::with_capacity(checkpoints.len());
        for step in 1..=200 {
            let result = if unrolled {
                train_step_unrolled(&mut net, &mut adam, images.clone(), &labels)
            } else {
                train_step(&mut net, &mut adam, images.clone(), &labels)
            };
            drop(result.expect("the step succeeds"));
            if checkpoints.contains(&step) {
                at_checkpoints.push(held());
            }
        }
        measured.push((
            if unrolled {
                "train_step_unrolled"
            } else {
                "train_step"
            },
            at_checkpoints,
        ));
    }

    for (name, at_checkpoints) in measured {
        for (step, bytes) in checkpoints.iter().zip(&at_checkpoints) {
            assert_eq!(
                *bytes, at_checkpoints[0],
                "{name}: {bytes} bytes held after step {step}, {} after step 2",
                at_checkpoints[0]
            );
        }
    }
}
