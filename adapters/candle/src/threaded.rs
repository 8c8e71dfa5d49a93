//! A candle session run in a rayon pool of its own, so that the thread count it was loaded
//! with is the one its kernels use (candle's convolutions and matmuls split their work in the
//! current rayon pool).

use qbench_core::{AdapterError, Batch, Output, Session};

use crate::CandleSession;

/// A session and the pool it runs in.
pub(crate) struct Threaded {
    pool: rayon::ThreadPool,
    session: CandleSession,
}

impl Threaded {
    pub fn new(session: CandleSession, threads: usize) -> Result<Self, String> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("candle-{i}"))
            .build()
            .map_err(|e| format!("cannot start {threads} candle threads: {e}"))?;
        Ok(Self { pool, session })
    }

    /// Worker threads of the pool the session runs in.
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }
}

impl Session for Threaded {
    fn run(&mut self, batch: &Batch) -> Result<Output, AdapterError> {
        let session = &mut self.session;
        self.pool.install(|| session.run(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::ggml_model;

    #[test]
    fn a_session_runs_in_a_pool_of_the_threads_it_was_given() {
        for threads in [1, 3] {
            let session = CandleSession::new(ggml_model("q8_0", 64, None), "x", "y").unwrap();
            let mut t = Threaded::new(session, threads).unwrap();
            assert_eq!(t.threads(), threads);
            let data = vec![0.5f32; 64];
            let inside = t.pool.install(rayon::current_num_threads);
            assert_eq!(inside, threads);
            assert!(t
                .run(&Batch {
                    data: &data,
                    dims: &[1, 1, 1, 64]
                })
                .is_ok());
        }
    }
}
