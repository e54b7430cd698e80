//! Tasks shared among threads through a counter.
//!
//! Splitting work into one fixed share per thread makes every thread wait
//! for the slowest one. When another program shares a core, the thread on
//! that core runs at a fraction of its speed, and the others wait for it
//! at every join. Here each thread takes the next task that no thread has
//! taken yet, so a delayed thread simply takes fewer tasks.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `task(0)` to `task(tasks - 1)` on `threads` threads, the calling
/// thread included, and returns the results in task order.
///
/// # Panics
/// When a task panics: the panic reaches the caller once the other
/// threads have finished their current tasks.
pub fn run_tasks<R: Send>(tasks: usize, threads: usize, task: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= tasks {
                return done;
            }
            done.push((i, task(i)));
        }
    };
    let threads = threads.clamp(1, tasks.max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut done = worker();
        for handle in handles {
            done.extend(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        done
    });
    done.sort_unstable_by_key(|&(i, _)| i);
    done.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_task_order() {
        for threads in [1, 2, 5] {
            let results = run_tasks(7, threads, |i| i * i);
            assert_eq!(results, vec![0, 1, 4, 9, 16, 25, 36], "{threads} threads");
        }
    }

    #[test]
    fn no_tasks_gives_no_results() {
        assert!(run_tasks(0, 3, |i| i).is_empty());
    }

    #[test]
    fn free_thread_takes_delayed_threads_tasks() {
        // Task 0 waits until tasks 1-5 have run (or 10 s have passed), so
        // with two threads the other thread must run all of them.
        let finished = AtomicUsize::new(0);
        let threads_of: Vec<std::thread::ThreadId> = run_tasks(6, 2, |i| {
            if i == 0 {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while finished.load(Ordering::SeqCst) < 5 && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            } else {
                finished.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::current().id()
        });
        let others = threads_of[1..].iter().filter(|&&id| id != threads_of[0]).count();
        assert_eq!(others, 5, "tasks 1-5 should all run on the thread that was not waiting");
    }

    #[test]
    #[should_panic(expected = "task 3 failed")]
    fn panic_in_task_reaches_caller() {
        run_tasks(5, 2, |i| assert!(i != 3, "task {i} failed"));
    }
}
