//! Group commit of the worker's writes. Every message in flight logs its signed body and then
//! records customs' reply; one statement (and one commit) per message made the database the
//! bottleneck. A [`Batcher`] runs one writer task per kind of write: a message hands its item
//! over and waits for its own result, while the writer takes everything that arrived during the
//! previous statement and writes it in the next one. A lone message is written at once; while
//! the worker is busy (the previous batch had several items) the writer lingers up to
//! [`LINGER`] for more, so that a busy worker writes 8–32 per statement.
//!
//! The contract of each item is unchanged: its caller gets its own result (an outage reported as
//! [`DbError::Unavailable`] is retried by the caller, as before, and lands in a later batch).
//! A batch the database refuses is written again item by item, so that one bad item cannot
//! fail the others.

use crate::db::DbError;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a busy writer waits for more items before writing (a message's latency grows by
/// at most this much per write; an idle worker never waits).
pub const LINGER: Duration = Duration::from_millis(2);

/// What a batch write returns: one result per item, in the items' order.
pub type Written<O> = Pin<Box<dyn Future<Output = Vec<Result<O, DbError>>> + Send>>;

type Waiting<I, O> = (I, oneshot::Sender<Result<O, DbError>>);

/// A writer task that batches the items handed to it (see the module documentation).
pub struct Batcher<I, O> {
    tx: mpsc::Sender<Waiting<I, O>>,
}

impl<I: Clone + Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the writer: `write` writes a batch of at most `max` items in one statement.
    pub fn start(max: usize, write: impl Fn(Vec<I>) -> Written<O> + Send + Sync + 'static) -> Self {
        let (tx, mut rx) = mpsc::channel::<Waiting<I, O>>(max.max(1) * 8);
        tokio::spawn(async move {
            let mut busy = false;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let until = tokio::time::Instant::now() + LINGER;
                while batch.len() < max {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) if busy => match tokio::time::timeout_at(until, rx.recv()).await {
                            Ok(Some(next)) => batch.push(next),
                            _ => break,
                        },
                        Err(_) => break,
                    }
                }
                busy = batch.len() > 1;
                let (items, waiting): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
                let mut results = write(items.clone()).await;
                if items.len() > 1 && results.iter().any(|r| matches!(r, Err(DbError::Sql(_)))) {
                    // refused as a whole: each item alone, so that only a bad one fails
                    results = Vec::with_capacity(items.len());
                    for item in items {
                        results.push(write(vec![item]).await.pop().unwrap_or_else(|| Err(lost())));
                    }
                }
                let mut results = results.into_iter();
                for w in waiting {
                    let _ = w.send(results.next().unwrap_or_else(|| Err(lost())));
                }
            }
        });
        Batcher { tx }
    }

    /// Writes `item` with whatever else is waiting; its own result.
    pub async fn write(&self, item: I) -> Result<O, DbError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((item, tx)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

fn stopped() -> DbError {
    DbError::Unavailable("the batch writer stopped".into())
}

fn lost() -> DbError {
    DbError::Sql("the batch write returned no result for this item".into())
}

/// One `Err` per item: the statement of a whole batch failed.
pub fn all_failed<O>(n: usize, e: &DbError) -> Vec<Result<O, DbError>> {
    (0..n)
        .map(|_| {
            Err(match e {
                DbError::Unavailable(m) => DbError::Unavailable(m.clone()),
                DbError::Sql(m) => DbError::Sql(m.clone()),
                DbError::Config(m) => DbError::Config(m.clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[tokio::test]
    async fn items_arriving_during_a_write_share_the_next_one() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let s = sizes.clone();
        let b = Arc::new(Batcher::start(32, move |items: Vec<u32>| -> Written<u32> {
            s.lock().unwrap().push(items.len());
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                items.into_iter().map(|i| Ok(i * 10)).collect()
            })
        }));
        let mut tasks = Vec::new();
        for i in 0..20u32 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move { b.write(i).await.unwrap() }));
            if i == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await; // the first is written alone
            }
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i as u32 * 10, "each gets its own result");
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes[0], 1, "a lone item is written at once: {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 20);
        assert!(sizes.len() <= 3, "the rest waited for one write, not one each: {sizes:?}");
    }

    #[tokio::test]
    async fn a_refused_batch_is_written_again_item_by_item() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let b = Arc::new(Batcher::start(8, move |items: Vec<i32>| -> Written<i32> {
            c.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if items.contains(&-1) {
                    all_failed(items.len(), &DbError::Sql("bad item".into()))
                } else {
                    items.into_iter().map(Ok).collect()
                }
            })
        }));
        let blocker = { let b = b.clone(); tokio::spawn(async move { b.write(0).await }) };
        tokio::time::sleep(Duration::from_millis(2)).await;
        let tasks: Vec<_> = [1, -1, 2].into_iter().map(|i| { let b = b.clone(); tokio::spawn(async move { b.write(i).await }) }).collect();
        assert!(blocker.await.unwrap().is_ok());
        let got: Vec<_> = futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got[0].as_ref().ok(), Some(&1));
        assert!(matches!(got[1], Err(DbError::Sql(_))), "only the bad item fails");
        assert_eq!(got[2].as_ref().ok(), Some(&2));
        assert_eq!(calls.load(Ordering::Relaxed), 1 + 1 + 3, "the lone first, the batch, then each of its 3 alone");
    }
}
