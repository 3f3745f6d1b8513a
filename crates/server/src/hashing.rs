//! Password verification on a fixed set of threads, one per core.
//!
//! Argon2id is meant to be expensive: each verification takes about 15 ms of CPU and 19 MiB
//! of memory. Running it on the async threads would stall every other request, so it runs
//! here, at most one per core at a time; a sign-in that cannot get a turn within a few
//! seconds gets `temporarily_unavailable`, so a login flood cannot starve the token endpoint.
//! Each thread keeps its working memory between verifications (hot in cache, no page faults)
//! and frees it after a quiet spell.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_core::protocol::OrServerError as _;

use tessera_core::protocol::OAuthError;
use tokio::sync::Semaphore;

/// How long a verification may wait for a free thread.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// A thread idle this long frees its working memory.
const IDLE_RELEASE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// The password-checking threads.
pub struct PasswordCheckers {
    turns: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for PasswordCheckers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordCheckers").finish_non_exhaustive()
    }
}

impl PasswordCheckers {
    /// Starts `threads` checking threads.
    pub fn start(threads: usize) -> std::io::Result<PasswordCheckers> {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("tessera-password-{i}"))
                .spawn(move || {
                    loop {
                        // Whoever holds the lock waits for the next job; the others wait
                        // for the lock. A job never waits for a thread: there are as many
                        // turns as threads.
                        let next = match queue.lock() {
                            Ok(queue) => queue.recv_timeout(IDLE_RELEASE),
                            Err(_) => return,
                        };
                        match next {
                            Ok(job) => job(),
                            Err(RecvTimeoutError::Timeout) => {
                                tessera_core::passwords::release_memory();
                            }
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })?;
        }
        Ok(PasswordCheckers {
            turns: Arc::new(Semaphore::new(threads)),
            jobs,
        })
    }

    /// True when `password` matches the PHC `hash`.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, OAuthError> {
        self.run(move || tessera_core::passwords::verify_password(&password, &hash))
            .await
            .map(|matches| matches.unwrap_or(false))
    }

    /// The Argon2id PHC string of a new `password`.
    pub async fn hash(&self, password: String) -> Result<String, OAuthError> {
        self.run(move || tessera_core::passwords::hash_password(&password))
            .await?
            .ok_or_else(|| OAuthError::internal("hashing a password", "the hashing job failed"))?
            .map_err(|e| OAuthError::internal("hashing a password", e.to_string()))
    }

    /// The index of the stored recovery-code hash `presented` matches, if any (a hash check
    /// per stored code, on these threads).
    pub async fn find_recovery_code(
        &self,
        hashes: Vec<String>,
        presented: String,
    ) -> Result<Option<usize>, OAuthError> {
        self.run(move || tessera_core::factors::recovery::find_recovery_code(&hashes, &presented))
            .await
            .map(Option::flatten)
    }

    /// Runs a hashing job on these threads; `None` when it panicked (which admits nobody;
    /// the operator hears of it).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + std::panic::UnwindSafe + 'static,
    ) -> Result<Option<T>, OAuthError> {
        let turn = tokio::time::timeout(QUEUE_WAIT, Arc::clone(&self.turns).acquire_owned())
            .await
            .map_err(|_| OAuthError::unavailable("too many sign-ins at once", None))?
            .or_server_error("waiting for a password check")?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let result = std::panic::catch_unwind(job).ok();
                if result.is_none() {
                    tracing::error!("a password check panicked; the sign-in is refused");
                }
                drop(turn);
                let _ = reply.send(result);
            }))
            .map_err(|_| {
                OAuthError::internal(
                    "handing a password check to a worker",
                    "the password workers have stopped",
                )
            })?;
        answer.await.or_server_error("waiting for a password check")
    }
}
