//! One in-flight computation per key, shared by every concurrent caller in the process.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use futures::future::{BoxFuture, FutureExt, Shared};

type Flight<T> = Shared<BoxFuture<'static, T>>;

/// Callers of [`SingleFlight::run`] with the same key while a computation for it is running get
/// its result instead of starting another. The computation is a spawned-free shared future: it
/// is driven by whichever caller polls it, so one caller going away does not cancel it for the
/// others.
pub struct SingleFlight<T: Clone> {
    flights: Mutex<HashMap<String, Flight<T>>>,
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight<T>>> {
        self.flights.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `make()` unless a computation for `key` is already running, and returns its result.
    pub async fn run<F>(&self, key: &str, make: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        let flight = {
            let mut flights = self.lock();
            match flights.get(key) {
                Some(f) => f.clone(),
                None => {
                    let f = make().boxed().shared();
                    flights.insert(key.to_owned(), f.clone());
                    f
                }
            }
        };
        let out = flight.clone().await;
        // The first caller back removes the finished flight; a later flight under the same key
        // (started after this one finished) is left alone.
        let mut flights = self.lock();
        if flights.get(key).is_some_and(|f| f.ptr_eq(&flight)) {
            flights.remove(key);
        }
        out
    }

    /// Computations running now (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn concurrent_callers_share_one_computation() {
        let flights = Arc::new(SingleFlight::<u32>::new());
        let runs = Arc::new(AtomicU32::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (flights, runs, gate) = (flights.clone(), runs.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("k", || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        7
                    })
                    .await
            }));
        }
        // Let every task join the flight before it completes.
        while flights.in_flight() == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0);
        // A later call starts a new computation.
        assert_eq!(flights.run("k", || async { 8 }).await, 8);
    }

    #[tokio::test]
    async fn different_keys_do_not_share() {
        let flights = SingleFlight::<String>::new();
        let a = flights.run("a", || async { "a".to_owned() });
        let b = flights.run("b", || async { "b".to_owned() });
        let (a, b) = futures::join!(a, b);
        assert_eq!((a.as_str(), b.as_str()), ("a", "b"));
    }
}
