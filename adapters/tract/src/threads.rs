//! How qbench makes tract use `LoadOptions::threads` intra-op threads.
//!
//! Facts from the tract 0.23.9 sources (`tract-linalg/src/multithread.rs`,
//! `tract-core/src/plan.rs`, `tract-core/src/runtime.rs`):
//!
//! - Kernels ask `tract_linalg::multithread::current_tract_executor()` how to run. It returns a
//!   thread-local override if one is installed, else a process-wide default that starts as
//!   `Executor::SingleThread`. So tract is single-threaded unless told otherwise.
//! - `Executor::MultiThread(Arc<rayon::ThreadPool>)` exists only when `tract-linalg` is built
//!   with the `multithread-mm` feature (enabled by this crate's Cargo.toml).
//! - `RunOptions { executor: Some(..) }` passed to `into_runnable_with_options` is stored in the
//!   plan; every run of that plan installs it as the thread-local override
//!   (`multithread_tract_scope`). qbench uses this per-session route, so sessions with different
//!   thread counts can coexist and the process-wide default (`set_default_executor`) is left
//!   alone.
//! - Parallel paths: matrix multiplication (conv lowered to im2col + MMM, Gemm, MatMul) splits
//!   its tiles across the pool; packing, element-wise, binary, reduce, softmax, max-pool and
//!   depth-wise conv split rows. Each has a size gate (by default 64 MMM panels or 2^21
//!   multiply-accumulates; 32768 elements for the row-parallel paths) below which work runs
//!   inline, so very small models stay effectively single-threaded. qbench keeps tract's default
//!   gates.
//! - With a pool, the calling thread blocks in `ThreadPool::install` while the pool's workers
//!   compute, so `threads = n` means `n` busy compute threads.

use std::panic::{catch_unwind, AssertUnwindSafe};

use tract_linalg::multithread::Executor;

/// Name prefix of the pool's worker threads (`qbench-tract-0`, `qbench-tract-1`, ...).
pub const POOL_THREAD_NAME: &str = "qbench-tract";

/// Number of intra-op threads actually used for a requested count: `0` means one per
/// available core.
pub fn effective_threads(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// The executor for `threads` intra-op threads: the calling thread alone for one thread,
/// otherwise a private rayon pool of that many workers.
pub(crate) fn executor(threads: usize) -> Result<Executor, String> {
    match effective_threads(threads) {
        1 => Ok(Executor::SingleThread),
        n => {
            // tract panics (rather than returning an error) when the pool cannot be built.
            catch_unwind(AssertUnwindSafe(|| {
                Executor::multithread_with_name(n, POOL_THREAD_NAME)
            }))
            .map_err(|panic| {
                let msg = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown reason");
                format!("cannot start a {n}-thread pool: {msg}")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_is_single_threaded() {
        assert!(matches!(executor(1), Ok(Executor::SingleThread)));
    }

    #[test]
    fn two_threads_get_a_two_worker_pool() {
        match executor(2) {
            Ok(Executor::MultiThread(pool)) => assert_eq!(pool.current_num_threads(), 2),
            other => panic!("expected a 2-thread pool, got {other:?}"),
        }
    }

    #[test]
    fn zero_means_all_cores() {
        assert!(effective_threads(0) >= 1);
        assert_eq!(effective_threads(3), 3);
    }
}
